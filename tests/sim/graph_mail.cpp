// The simulator's Graph mail: a message is a draft until it is sent, as on Exchange Online.
//   POST   .../messages                                   a draft (attachments inline, 4 MB a request)
//   POST   .../messages/{id}/attachments/createUploadSession   for an attachment of 3 MB and more
//   PUT    {uploadUrl}                                    its chunks, in order, without a token
//   GET    .../messages/{id}/attachments                  what the draft holds
//   POST   .../messages/{id}/send                         202; the draft moves to Sent Items
//   DELETE .../messages/{id}                              a draft or a sent copy
//   GET    .../messages?$filter=<tag>                     the mailbox's messages carrying the tag
#include <boost/json.hpp>
#include <algorithm>

#include "codec.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "graph_endpoint.hpp"
#include "graph_wire.hpp"

namespace exsync::sim {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxRequestBytes = 4u << 20;     // Graph's limit on one request
constexpr std::size_t kUploadChunkUnit = 320u * 1024;  // chunks but the last are multiples of it

json::object message_json(const SimMessage& m, bool draft) {
  json::array to;
  for (const auto& a : m.to) to.push_back(json::object{{"emailAddress", json::object{{"address", a}}}});
  return json::object{{"id", m.id},
                      {"isDraft", draft},
                      {"subject", m.subject},
                      {"body", json::object{{"contentType", m.html ? "html" : "text"}, {"content", m.body}}},
                      {"toRecipients", std::move(to)},
                      {"hasAttachments", !m.attachment_names.empty()}};
}

// The addresses of a recipients collection: [{"emailAddress":{"address","name"}}].
std::optional<std::vector<std::string>> recipients(const json::object& o, std::string_view field) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(field);
  if (!v) return out;
  if (!v->is_array()) return std::nullopt;
  for (const auto& r : v->as_array()) {
    const auto* e = r.is_object() ? r.as_object().if_contains("emailAddress") : nullptr;
    if (!e || !e->is_object() || str(e->as_object(), "address").empty()) return std::nullopt;
    out.push_back(normalize_mailbox_address(str(e->as_object(), "address")));
  }
  return out;
}

// The message `id` in `list`, or end.
std::vector<SimMessage>::iterator find_message(std::vector<SimMessage>& list, const std::string& id) {
  return std::find_if(list.begin(), list.end(), [&](const SimMessage& m) { return m.id == id; });
}

}  // namespace

http::Response GraphEndpoint::mail(Mailbox& mb, const http::Request& req, const http::RequestTarget& target,
                                   const std::vector<std::string>& rest) {
  // POST .../messages: a draft.
  if (rest.size() == 1 && req.method == "POST") {
    ++stats_.operations["draft"];
    if (req.body.size() > kMaxRequestBytes)
      return graph_error(413, "RequestEntityTooLarge", "The request is larger than 4 MB: attach large files through an upload session.");
    json::error_code ec;
    auto body = json::parse(req.body, ec);
    if (ec || !body.is_object()) return graph_error(400, "RequestBodyRead", "Invalid JSON in the request body.");
    const auto& o = body.as_object();
    SimMessage m;
    m.id = graph_id("AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":message:" + std::to_string(next_id_++)));
    m.subject = str(o, "subject");
    if (const auto* b = o.if_contains("body"); b && b->is_object()) {
      m.body = str(b->as_object(), "content");
      m.html = str(b->as_object(), "contentType") == "html" || str(b->as_object(), "contentType") == "HTML";
    }
    auto to = recipients(o, "toRecipients"), cc = recipients(o, "ccRecipients"), bcc = recipients(o, "bccRecipients");
    if (!to || !cc || !bcc) return graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.");
    m.to = std::move(*to);
    m.cc = std::move(*cc);
    m.bcc = std::move(*bcc);
    if (const auto* atts = o.if_contains("attachments"); atts && atts->is_array()) {
      for (const auto& a : atts->as_array()) {
        const auto* ao = a.if_object();
        auto bytes = ao ? base64_decode(str(*ao, "contentBytes")) : std::nullopt;
        if (!ao || str(*ao, "@odata.type") != "#microsoft.graph.fileAttachment" || !bytes)
          return graph_error(400, "ErrorInvalidRequest", "An attachment is not a file attachment with contentBytes.");
        m.attachment_names.push_back(str(*ao, "name"));
        m.attachment_sizes.push_back(bytes->size());
      }
    }
    if (const auto* props = o.if_contains("singleValueExtendedProperties"); props && props->is_array()) {
      for (const auto& p : props->as_array()) {
        const auto* po = p.if_object();
        auto key = po ? extended_key_of(str(*po, "id")) : std::nullopt;
        if (!key) return graph_error(400, "ErrorInvalidProperty", "The extended property id is not valid.");
        m.extended[*key] = str(*po, "value");
      }
    }
    mb.drafts.push_back(m);
    return json_response(201, message_json(m, true));
  }

  // GET .../messages?$filter=<tag>&$select=id,isDraft: across the mailbox's folders.
  if (rest.size() == 1 && req.method == "GET") {
    ++stats_.operations["find_message"];
    auto f = target.query.find("$filter");
    auto tag = f == target.query.end() ? std::nullopt : tag_filter(f->second);
    if (!tag) return graph_error(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.");
    json::array value;
    auto carries = [&](const SimMessage& m) {
      auto it = m.extended.find(tag->first);
      return it != m.extended.end() && normalize_mailbox_address(it->second) == normalize_mailbox_address(tag->second);
    };
    for (const auto& m : mb.drafts)
      if (carries(m)) value.push_back(json::object{{"id", m.id}, {"isDraft", true}});
    for (const auto& m : mb.sent_items)
      if (carries(m)) value.push_back(json::object{{"id", m.id}, {"isDraft", false}});
    return json_response(200, json::object{{"value", std::move(value)}});
  }

  if (rest.size() < 2) return graph_error(405, "Request_BadRequest", "The method is not allowed.");
  const std::string& id = rest[1];
  auto draft = find_message(mb.drafts, id);

  if (rest.size() == 2 && req.method == "DELETE") {
    ++stats_.operations["delete_message"];
    if (draft != mb.drafts.end()) {
      mb.drafts.erase(draft);
      return {204, {}, ""};
    }
    if (auto sent = find_message(mb.sent_items, id); sent != mb.sent_items.end()) {
      mb.sent_items.erase(sent);
      return {204, {}, ""};
    }
    return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
  }
  if (rest.size() == 3 && rest[2] == "send" && req.method == "POST") {
    ++stats_.operations["send"];
    if (draft == mb.drafts.end()) {
      // Sent already, or never there: Graph sends a message once.
      return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    }
    if (draft->to.empty() && draft->cc.empty() && draft->bcc.empty())
      return graph_error(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.");
    SimMessage m = std::move(*draft);
    mb.drafts.erase(draft);
    m.sent = tenant_.now();
    mb.sent_items.push_back(std::move(m));
    return {202, {}, ""};
  }
  if (draft == mb.drafts.end())
    return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
  if (rest.size() == 3 && rest[2] == "attachments" && req.method == "GET") {
    json::array value;
    for (std::size_t i = 0; i < draft->attachment_names.size(); ++i)
      value.push_back(json::object{{"name", draft->attachment_names[i]},
                                   {"size", static_cast<std::int64_t>(draft->attachment_sizes[i])}});
    return json_response(200, json::object{{"value", std::move(value)}});
  }
  if (rest.size() == 4 && rest[2] == "attachments" && rest[3] == "createUploadSession" && req.method == "POST") {
    ++stats_.operations["upload_session"];
    json::error_code ec;
    auto body = json::parse(req.body, ec);
    const auto* item = !ec && body.is_object() ? body.as_object().if_contains("AttachmentItem") : nullptr;
    const auto* io = item ? item->if_object() : nullptr;
    const auto* size = io ? io->if_contains("size") : nullptr;
    if (!io || str(*io, "attachmentType") != "file" || str(*io, "name").empty() || !size || !size->is_int64() ||
        size->as_int64() <= 0)
      return graph_error(400, "ErrorInvalidRequest", "AttachmentItem needs attachmentType file, a name and a size.");
    const std::string session = b64url("upload:" + std::to_string(next_id_++));
    uploads_[session] = Upload{mb.address, id, str(*io, "name"), static_cast<std::size_t>(size->as_int64()), 0};
    return json_response(201, json::object{{"uploadUrl", base_ + std::string(kRoot) + "/uploads/" + session},
                                           {"expirationDateTime", "2099-01-01T00:00:00Z"},
                                           {"nextExpectedRanges", json::array{"0-"}}});
  }
  return graph_error(400, "BadRequest", "Resource not found for the segment '" + rest.back() + "'.");
}

http::Response GraphEndpoint::upload(const http::Request& req, const std::string& session) {
  ++stats_.operations["upload_chunk"];
  auto it = uploads_.find(session);
  if (it == uploads_.end()) return graph_error(404, "ErrorItemNotFound", "The upload session is not found or expired.");
  if (!req.header("Authorization").empty())
    return graph_error(401, "InvalidAuthenticationToken", "An upload URL carries its own authorisation: send no token.");
  if (req.method != "PUT") return graph_error(405, "Request_BadRequest", "The method is not allowed.");
  auto& up = it->second;
  // Content-Range: bytes first-last/total
  const std::string range(req.header("Content-Range"));
  std::size_t first = 0, last = 0, total = 0;
  if (std::sscanf(range.c_str(), "bytes %zu-%zu/%zu", &first, &last, &total) != 3 || last < first ||
      last - first + 1 != req.body.size() || total != up.size || first != up.received || last >= total)
    return graph_error(416, "InvalidRange", "The Content-Range does not follow the bytes received so far.");
  if (last + 1 < total && req.body.size() % kUploadChunkUnit != 0)
    return graph_error(400, "InvalidChunkSize", "Every chunk but the last must be a multiple of 320 KiB.");
  up.received = last + 1;
  if (up.received < up.size)
    return json_response(200, json::object{{"expirationDateTime", "2099-01-01T00:00:00Z"},
                                           {"nextExpectedRanges", json::array{std::to_string(up.received) + "-"}}});
  Mailbox* mb = tenant_.mailbox(up.mailbox);
  auto draft = mb ? find_message(mb->drafts, up.message_id) : std::vector<SimMessage>::iterator{};
  if (!mb || draft == mb->drafts.end()) {
    uploads_.erase(it);
    return graph_error(404, "ErrorItemNotFound", "The message of this upload session is gone.");
  }
  draft->attachment_names.push_back(up.name);
  draft->attachment_sizes.push_back(up.size);
  uploads_.erase(it);
  return {201, {}, ""};
}

}  // namespace exsync::sim
