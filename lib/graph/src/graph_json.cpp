#include "exsync/graph/graph_json.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>

#include "exsync/core/time_format.hpp"
#include "exsync/model/tag.hpp"
#include "graph_common.hpp"

namespace exsync::graph {

namespace json = boost::json;
using detail::change_key_of;
using detail::str;
using model::RemoteError;
using model::RemoteErrorKind;

namespace {

const json::array* array(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_array() ? &v->as_array() : nullptr;
}

// Graph's phone fields: the collections and their keys by position, and mobilePhone.
struct PhoneField {
  std::string_view graph;  // businessPhones, homePhones
  std::string_view keys[2];
};
constexpr PhoneField kPhoneLists[] = {{"businessPhones", {"BusinessPhone", "BusinessPhone2"}},
                                      {"homePhones", {"HomePhone", "HomePhone2"}}};
constexpr std::pair<std::string_view, std::string_view> kAddresses[] = {
    {"Business", "businessAddress"}, {"Home", "homeAddress"}, {"Other", "otherAddress"}};

std::string phone(const model::Contact& c, std::string_view key) {
  for (const auto& p : c.phones)
    if (p.key == key) return p.number;
  return {};
}

const model::PostalAddress* address(const model::Contact& c, std::string_view key) {
  for (const auto& a : c.addresses)
    if (a.key == key) return &a;
  return nullptr;
}

json::value phone_list(const model::Contact& c, const PhoneField& f) {
  json::array out;
  const auto first = phone(c, f.keys[0]);
  const auto second = phone(c, f.keys[1]);
  if (!first.empty() || !second.empty()) out.emplace_back(first);
  if (!second.empty()) out.emplace_back(second);
  return out;
}

json::value emails_json(const model::Contact& c) {
  // Positions are the keys: EmailAddress2 alone still goes second.
  std::vector<const model::EmailAddress*> slots(3, nullptr);
  for (const auto& e : c.emails) {
    if (e.key.size() == 13 && e.key.rfind("EmailAddress", 0) == 0 && e.key[12] >= '1' && e.key[12] <= '3')
      slots[static_cast<std::size_t>(e.key[12] - '1')] = &e;
  }
  while (!slots.empty() && !slots.back()) slots.pop_back();
  json::array out;
  for (const auto* e : slots)
    out.push_back(json::object{{"address", e ? e->address : ""}, {"name", e ? e->name : ""}});
  return out;
}

json::value address_json(const model::PostalAddress* a) {
  if (!a) return json::object{};
  return json::object{{"street", a->street},
                      {"city", a->city},
                      {"state", a->state},
                      {"postalCode", a->postal_code},
                      {"countryOrRegion", a->country}};
}

// Graph keeps a birthday as an instant; clients write the date at 11:59 UTC (as the EWS backend
// does), Outlook at local midnight. Noon-rounding gives the date the user entered either way.
std::string birthday_value(const std::chrono::year_month_day& d) { return format_date(d) + "T11:59:00Z"; }

// Every Graph field of the contact, as create and patch send it.
json::object all_fields(const model::Contact& c) {
  json::object o;
  o["displayName"] = c.display_name;
  o["givenName"] = c.given_name;
  o["middleName"] = c.middle_name;
  o["surname"] = c.surname;
  o["nickName"] = c.nickname;
  o["fileAs"] = c.file_as;
  o["companyName"] = c.company;
  o["jobTitle"] = c.job_title;
  o["emailAddresses"] = emails_json(c);
  for (const auto& f : kPhoneLists) o[f.graph] = phone_list(c, f);
  o["mobilePhone"] = phone(c, "MobilePhone");
  for (const auto& [key, field] : kAddresses) o[field] = address_json(address(c, key));
  o["birthday"] = c.birthday ? json::value(birthday_value(*c.birthday)) : json::value(nullptr);
  o["personalNotes"] = c.notes;
  json::array cats;
  for (const auto& cat : c.categories) cats.emplace_back(cat);
  o["categories"] = std::move(cats);
  return o;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool graph_phone_key(std::string_view key) {
  return key == "BusinessPhone" || key == "BusinessPhone2" || key == "HomePhone" || key == "HomePhone2" ||
         key == "MobilePhone";
}

Result<model::RemoteRef, std::string> contact_ref_from_graph(const json::object& o) {
  model::RemoteRef ref{str(o, "id"), change_key_of(o)};
  if (ref.id.empty()) return Fail{std::string("a contact without an id")};
  if (ref.change_key.empty()) return Fail{"contact " + ref.id + " has no changeKey"};
  return ref;
}

Result<model::RemoteItem, std::string> contact_from_graph(const json::object& o) {
  auto ref = contact_ref_from_graph(o);
  if (!ref) return Fail{std::move(ref).error()};
  model::RemoteItem item;
  item.ref = std::move(*ref);
  model::Contact c;
  c.display_name = str(o, "displayName");
  c.given_name = str(o, "givenName");
  c.middle_name = str(o, "middleName");
  c.surname = str(o, "surname");
  c.nickname = str(o, "nickName");
  c.file_as = str(o, "fileAs");
  c.company = str(o, "companyName");
  c.job_title = str(o, "jobTitle");
  if (const auto* emails = array(o, "emailAddresses")) {
    for (std::size_t i = 0; i < emails->size() && i < 3; ++i) {
      if (!(*emails)[i].is_object()) continue;
      const auto& e = (*emails)[i].as_object();
      model::EmailAddress a{"EmailAddress" + std::to_string(i + 1), str(e, "address"), str(e, "name")};
      if (!a.address.empty()) c.emails.push_back(std::move(a));
    }
  }
  for (const auto& f : kPhoneLists) {
    if (const auto* list = array(o, f.graph)) {
      for (std::size_t i = 0; i < list->size() && i < 2; ++i) {
        if ((*list)[i].is_string() && !(*list)[i].as_string().empty())
          c.phones.push_back({std::string(f.keys[i]), std::string((*list)[i].as_string())});
      }
    }
  }
  if (auto mobile = str(o, "mobilePhone"); !mobile.empty()) c.phones.push_back({"MobilePhone", mobile});
  for (const auto& [key, field] : kAddresses) {
    const auto* v = o.if_contains(field);
    if (!v || !v->is_object()) continue;
    const auto& a = v->as_object();
    model::PostalAddress pa{std::string(key), str(a, "street"), str(a, "city"), str(a, "state"), str(a, "postalCode"),
                            str(a, "countryOrRegion")};
    if (!(pa.street.empty() && pa.city.empty() && pa.state.empty() && pa.postal_code.empty() && pa.country.empty()))
      c.addresses.push_back(std::move(pa));
  }
  if (auto b = str(o, "birthday"); !b.empty()) {
    auto instant = parse_xs_datetime(b);
    if (!instant) return Fail{"contact " + item.ref.id + ": birthday \"" + b + "\" is not a date and time"};
    c.birthday = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(*instant + std::chrono::hours(12))};
  }
  c.notes = str(o, "personalNotes");
  if (const auto* cats = array(o, "categories")) {
    for (const auto& cat : *cats)
      if (cat.is_string()) c.categories.emplace_back(cat.as_string());
  }
  if (auto modified = str(o, "lastModifiedDateTime"); !modified.empty()) c.last_modified = parse_xs_datetime(modified);
  model::sort_by_key(c);
  item.payload = std::move(c);
  return item;
}

json::object contact_create_body(const model::Contact& contact, std::string_view local_id) {
  auto o = all_fields(contact);
  // Empty values are left out of a create: Graph stores nothing for them anyway.
  for (auto it = o.begin(); it != o.end();) {
    const auto& v = it->value();
    const bool empty = v.is_null() || (v.is_string() && v.as_string().empty()) || (v.is_array() && v.as_array().empty()) ||
                       (v.is_object() && v.as_object().empty());
    it = empty ? o.erase(it) : std::next(it);
  }
  o["singleValueExtendedProperties"] =
      json::array{json::object{{"id", model::graph_tag_property_id()}, {"value", std::string(local_id)}}};
  return o;
}

json::object message_draft_body(const model::OutgoingMessage& m, const std::vector<std::size_t>& inline_attachments) {
  auto recipients = [](const std::vector<model::Recipient>& list) {
    json::array out;
    for (const auto& r : list) {
      json::object address{{"address", r.address}};
      if (!r.name.empty()) address["name"] = r.name;
      out.push_back(json::object{{"emailAddress", std::move(address)}});
    }
    return out;
  };
  json::object o{{"subject", m.subject},
                 {"body", json::object{{"contentType", m.html ? "HTML" : "Text"}, {"content", m.body}}},
                 {"toRecipients", recipients(m.to)},
                 {"ccRecipients", recipients(m.cc)},
                 {"bccRecipients", recipients(m.bcc)},
                 {"singleValueExtendedProperties",
                  json::array{json::object{{"id", model::graph_tag_property_id()}, {"value", m.local_id}}}}};
  json::array attachments;
  for (auto i : inline_attachments) {
    const auto& a = m.attachments.at(i);
    attachments.push_back(json::object{{"@odata.type", "#microsoft.graph.fileAttachment"},
                                       {"name", a.name},
                                       {"contentType", a.content_type},
                                       {"contentBytes", a.content_base64}});
  }
  if (!attachments.empty()) o["attachments"] = std::move(attachments);
  return o;
}

json::object contact_patch_body(const model::Contact& before, const model::Contact& after) {
  const auto b = all_fields(before);
  auto a = all_fields(after);
  json::object patch;
  for (auto& [key, value] : a) {
    if (b.at(key) == value) continue;
    // An address removed is sent as an empty object: Graph then clears it.
    patch[key] = std::move(value);
  }
  return patch;
}

RemoteError error_for_graph_answer(const http::Response& answer) {
  auto error = answer.status == 401
                   ? RemoteError{RemoteErrorKind::unauthorized, "Graph refused a fresh access token", "", {}}
                   : error_for_graph_response(answer.status, answer.body, answer.header("Retry-After"));
  error.request_id = answer.request_id;
  return error;
}

RemoteError error_for_graph_response(int status, std::string_view body, std::string_view retry_after) {
  std::string code, message;
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      code = str(e->as_object(), "code");
      message = str(e->as_object(), "message");
    }
  }
  auto with = [&](RemoteErrorKind kind, std::string fallback) {
    RemoteError r{kind, message.empty() ? std::move(fallback) : "HTTP " + std::to_string(status) + ": " + message, code,
                  {}};
    r.answered = !code.empty();
    return r;
  };
  if (status == 401) return with(RemoteErrorKind::unauthorized, "HTTP 401: Graph refused the access token");
  for (std::string_view sync : {"SyncStateNotFound", "ResyncRequired", "SyncStateInvalid"})
    if (equals_ignoring_case(code, sync)) return with(RemoteErrorKind::invalid_sync_state, "the delta token expired");
  if (status == 410) return with(RemoteErrorKind::invalid_sync_state, "HTTP 410: the delta token expired");
  if (status == 429 || status == 503 || status == 504) {
    // Retry-After in seconds; some 429s come without one (Microsoft: back off exponentially).
    int seconds = 0;
    std::from_chars(retry_after.data(), retry_after.data() + retry_after.size(), seconds);
    auto r = with(RemoteErrorKind::throttled,
                  "HTTP " + std::to_string(status) + ": Graph asks to retry later");
    r.retry_after = std::chrono::seconds(seconds > 0 ? seconds : (status == 429 ? 1 : 10));
    if (r.code.empty()) r.code = "HTTP" + std::to_string(status);
    // MailboxConcurrency and the per-mailbox budget are the mailbox's; a 503 is the service's.
    r.whole_endpoint = status != 429;
    return r;
  }
  if (status == 404) {
    if (equals_ignoring_case(code, "ErrorInvalidUser") || equals_ignoring_case(code, "MailboxNotEnabledForRESTAPI") ||
        (equals_ignoring_case(code, "ResourceNotFound") && message.find("User") != std::string::npos))
      return with(RemoteErrorKind::mailbox_not_found, "HTTP 404: no such mailbox");
    return with(RemoteErrorKind::item_not_found, "HTTP 404: the item does not exist");
  }
  if (status == 412 || equals_ignoring_case(code, "ErrorIrresolvableConflict"))
    return with(RemoteErrorKind::conflict, "HTTP 412: the item changed since the change key given");
  if (status == 403) return with(RemoteErrorKind::access_denied, "HTTP 403: Graph refused access to the mailbox");
  if (status == 400) return with(RemoteErrorKind::invalid_item, "HTTP 400: Graph refused the request");
  if (status >= 500) return with(RemoteErrorKind::server, "HTTP " + std::to_string(status));
  return with(RemoteErrorKind::protocol, "unexpected HTTP " + std::to_string(status));
}

}  // namespace exsync::graph
