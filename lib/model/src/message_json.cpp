#include "exsync/model/message_json.hpp"

#include <boost/json.hpp>

#include "exsync/core/mailbox_address.hpp"
#include "json_fields.hpp"

namespace exsync::model {
namespace json = boost::json;
namespace {

bool valid_base64(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return false;
  std::size_t pad = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '=') {
      if (i + 2 < s.size()) return false;
      ++pad;
    } else if (pad || !(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return false;
    }
  }
  return true;
}

bool has_control(std::string_view s, bool allow_newlines) {
  for (unsigned char c : s) {
    if (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\r' || c == '\t'))) return true;
  }
  return false;
}

Result<std::vector<Recipient>, std::string> recipients(const json::object& o, std::string_view key) {
  std::vector<Recipient> out;
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return out;
  if (!v->is_array()) return Fail{std::string(key) + " must be an array"};
  const auto& arr = v->as_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    Recipient r;
    if (arr[i].is_string()) {
      r.address = arr[i].as_string();
    } else if (arr[i].is_object() && arr[i].as_object().contains("address") && arr[i].at("address").is_string()) {
      r.address = arr[i].at("address").as_string();
      if (auto* n = arr[i].as_object().if_contains("name"); n && n->is_string()) r.name = n->as_string();
    } else {
      return Fail{where + " must be an address or {\"name\", \"address\"}"};
    }
    if (auto problem = mailbox_address_problem(r.address))
      return Fail{where + ": \"" + r.address + "\" is not an email address (it " + *problem + ")"};
    if (has_control(r.name, false) || r.name.size() > 256) return Fail{where + ".name is not a valid display name"};
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<OutgoingMessage, std::string> message_from_json(std::string_view text) {
  json::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return Fail{std::string("is not valid JSON: ") + ec.message()};
  if (!v.is_object()) return Fail{std::string("must be a JSON object")};
  const auto& o = v.as_object();
  OutgoingMessage m;
  for (auto [key, target] : {std::pair{"to", &m.to}, std::pair{"cc", &m.cc}, std::pair{"bcc", &m.bcc}}) {
    auto r = recipients(o, key);
    if (!r) return Fail{r.error()};
    *target = std::move(*r);
  }
  if (m.to.empty() && m.cc.empty() && m.bcc.empty()) return Fail{std::string("to, cc or bcc must name a recipient")};
  if (m.to.size() + m.cc.size() + m.bcc.size() > 500) return Fail{std::string("at most 500 recipients")};
  if (auto* s = o.if_contains("subject")) {
    if (!s->is_string()) return Fail{std::string("subject must be a string")};
    m.subject = s->as_string();
  }
  if (has_control(m.subject, false) || m.subject.size() > 255)
    return Fail{std::string("subject must be one line of at most 255 bytes")};
  const auto* text_body = o.if_contains("text");
  const auto* html_body = o.if_contains("html");
  if (text_body && html_body) return Fail{std::string("give text or html, not both")};
  if (const auto* b = text_body ? text_body : html_body) {
    if (!b->is_string()) return Fail{std::string(text_body ? "text" : "html") + " must be a string"};
    m.body = b->as_string();
    m.html = html_body != nullptr;
  }
  if (has_control(m.body, true)) return Fail{std::string("the body holds a control character")};
  if (auto* a = o.if_contains("attachments"); a && !a->is_null()) {
    if (!a->is_array()) return Fail{std::string("attachments must be an array")};
    for (std::size_t i = 0; i < a->as_array().size(); ++i) {
      const auto& el = a->as_array()[i];
      const std::string where = "attachments[" + std::to_string(i) + "]";
      if (!el.is_object()) return Fail{where + " must be an object"};
      Attachment att;
      auto str = [&](const char* k) -> std::string {
        auto* f = el.as_object().if_contains(k);
        return f && f->is_string() ? std::string(f->as_string()) : std::string();
      };
      att.name = str("name");
      att.content_type = str("content_type");
      att.content_base64 = str("content_base64");
      if (att.name.empty() || has_control(att.name, false) || att.name.find_first_of("/\\") != std::string::npos)
        return Fail{where + ".name must be a file name"};
      if (att.content_type.empty()) att.content_type = "application/octet-stream";
      if (!valid_base64(att.content_base64)) return Fail{where + ".content_base64 is not Base64"};
      m.attachments.push_back(std::move(att));
    }
  }
  return m;
}

namespace {
constexpr Member kRecipientMembers[] = {{"name"}, {"address"}};
constexpr Member kAttachmentMembers[] = {{"name"}, {"content_type"}, {"content_base64"}};
constexpr Member kMessageMembers[] = {{"to", kRecipientMembers}, {"cc", kRecipientMembers}, {"bcc", kRecipientMembers},
                                      {"subject"},  {"text"}, {"html"}, {"attachments", kAttachmentMembers}};
}  // namespace

std::optional<std::string> message_unknown_field(std::string_view text) {
  auto v = parse_object(text);
  if (!v) return std::nullopt;  // message_from_json says what is wrong
  for (const auto& kv : v->as_object())
    for (const auto& k : kIdentityMembers)
      if (k.name == kv.key()) return std::string(kv.key());  // a message has no identity to send back
  return unknown_member(v->as_object(), kMessageMembers, false);
}

std::string message_to_json(const OutgoingMessage& m) {
  auto list = [](const std::vector<Recipient>& rs) {
    json::array a;
    for (const auto& r : rs) a.push_back(json::object{{"name", r.name}, {"address", r.address}});
    return a;
  };
  json::object o{{"to", list(m.to)}, {"cc", list(m.cc)}, {"bcc", list(m.bcc)}, {"subject", m.subject}};
  o[m.html ? "html" : "text"] = m.body;
  json::array atts;
  for (const auto& a : m.attachments)
    atts.push_back(json::object{{"name", a.name}, {"content_type", a.content_type}, {"content_base64", a.content_base64}});
  o["attachments"] = std::move(atts);
  return json::serialize(o);
}

}  // namespace exsync::model
