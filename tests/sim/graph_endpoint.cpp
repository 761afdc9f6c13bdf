#include "graph_endpoint.hpp"

#include "graph_wire.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <set>
#include <strings.h>

#include "codec.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/core/time_format.hpp"

namespace exsync::sim {

namespace json = boost::json;

std::string b64url(std::string_view raw) {
  auto b = base64_encode(raw);
  for (auto& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!b.empty() && b.back() == '=') b.pop_back();
  return b;
}

std::optional<std::string> from_b64url(std::string text) {
  for (auto& c : text) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (text.size() % 4) text += '=';
  return base64_decode(text);
}

http::Response json_response(int status, const json::value& body) {
  return {status,
          {{"Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"},
           {"Preference-Applied", "IdType=\"ImmutableId\""}},
          json::serialize(body)};
}

// Graph's error body: {"error":{"code","message","innerError":{date, request-id}}}.
http::Response graph_error(int status, std::string_view code, std::string_view message) {
  json::object inner{{"date", format_rfc3339_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()))}};
  return json_response(status, json::object{{"error", json::object{{"code", code}, {"message", message}, {"innerError", inner}}}});
}

std::string prefer_header(const http::Request& req) {
  std::string out;
  for (const auto& h : req.headers) {
    if (h.name.size() != 6 || strncasecmp(h.name.c_str(), "Prefer", 6) != 0) continue;
    if (!out.empty()) out += ", ";
    out += h.value;
  }
  return out;
}

std::optional<http::Response> stale_if_match(const http::Request& req, const std::string& change_key) {
  const std::string if_match(req.header("If-Match"));
  if (if_match.empty() || if_match == "*" || if_match == "W/\"" + change_key + "\"") return std::nullopt;
  return graph_error(412, "ErrorIrresolvableConflict",
                     "The send or update operation could not be performed because the change key passed in the "
                     "request does not match the current change key for the item.");
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// "String {guid} Name name" -> the EWS key "guid/name" the tenant keeps tags by.
std::optional<std::string> extended_key_of(std::string_view id) {
  constexpr std::string_view kString = "String {";
  const auto close = id.find("} Name ");
  if (id.rfind(kString, 0) != 0 || close == std::string_view::npos) return std::nullopt;
  std::string guid(id.substr(kString.size(), close - kString.size()));
  std::transform(guid.begin(), guid.end(), guid.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return guid + "/" + std::string(id.substr(close + 7));
}

// The tag filter exsync sends, as (extended key, value):
// singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and ep/value eq '<value>').
std::optional<std::pair<std::string, std::string>> tag_filter(const std::string& filter) {
  constexpr std::string_view kHead = "singleValueExtendedProperties/Any(ep: ep/id eq '";
  constexpr std::string_view kMid = "' and ep/value eq '";
  if (filter.rfind(kHead, 0) != 0 || filter.size() < kHead.size() + 2 || filter.substr(filter.size() - 2) != "')")
    return std::nullopt;
  const auto mid = filter.find(kMid, kHead.size());
  if (mid == std::string::npos) return std::nullopt;
  auto key = extended_key_of(filter.substr(kHead.size(), mid - kHead.size()));
  if (!key) return std::nullopt;
  return std::make_pair(*key, filter.substr(mid + kMid.size(), filter.size() - 2 - mid - kMid.size()));
}


namespace {

constexpr std::string_view kEwsPrefix = "AAMkAD";
constexpr std::string_view kGraphPrefix = "AAkALgAA";
constexpr int kDefaultPageSize = 10;  // Graph's default for contacts delta
constexpr int kMaxPageSize = 1000;

const char* kPhoneKeys[2][2] = {{"BusinessPhone", "BusinessPhone2"}, {"HomePhone", "HomePhone2"}};
const char* kPhoneLists[2] = {"businessPhones", "homePhones"};
const std::pair<const char*, const char*> kAddresses[] = {
    {"Business", "businessAddress"}, {"Home", "homeAddress"}, {"Other", "otherAddress"}};

// A contact as Graph returns it (contact_get_captured_corso.json's shape).
json::object contact_json(const SimContact& sc) {
  const auto& c = sc.contact;
  json::object o;
  o["@odata.etag"] = "W/\"" + sc.change_key() + "\"";
  o["id"] = graph_id(sc.id);
  o["createdDateTime"] = format_rfc3339_utc(sc.created);
  o["lastModifiedDateTime"] = format_rfc3339_utc(sc.last_modified);
  o["changeKey"] = sc.change_key();
  json::array cats;
  for (const auto& cat : c.categories) cats.emplace_back(cat);
  o["categories"] = std::move(cats);
  o["parentFolderId"] = "AAMkADsim" + b64url("contacts");
  o["birthday"] = c.birthday ? json::value(format_rfc3339_utc(sc.birthday_instant)) : json::value(nullptr);
  o["fileAs"] = c.file_as;
  o["displayName"] = c.display_name;
  o["givenName"] = c.given_name;
  o["middleName"] = c.middle_name;
  o["nickName"] = c.nickname;
  o["surname"] = c.surname;
  o["companyName"] = c.company;
  o["jobTitle"] = c.job_title;
  o["personalNotes"] = c.notes;
  json::array emails;
  for (const char* key : {"EmailAddress1", "EmailAddress2", "EmailAddress3"}) {
    auto it = std::find_if(c.emails.begin(), c.emails.end(), [&](const auto& e) { return e.key == key; });
    if (it != c.emails.end()) emails.push_back(json::object{{"name", it->name}, {"address", it->address}});
  }
  o["emailAddresses"] = std::move(emails);
  auto phone = [&](std::string_view key) {
    auto it = std::find_if(c.phones.begin(), c.phones.end(), [&](const auto& p) { return p.key == key; });
    return it == c.phones.end() ? std::string() : it->number;
  };
  for (int l = 0; l < 2; ++l) {
    json::array list;
    for (int i = 0; i < 2; ++i)
      if (auto n = phone(kPhoneKeys[l][i]); !n.empty()) list.emplace_back(n);
    o[kPhoneLists[l]] = std::move(list);
  }
  o["mobilePhone"] = phone("MobilePhone").empty() ? json::value(nullptr) : json::value(phone("MobilePhone"));
  for (const auto& [key, field] : kAddresses) {
    json::object a;
    auto it = std::find_if(c.addresses.begin(), c.addresses.end(), [&](const auto& x) { return x.key == key; });
    if (it != c.addresses.end()) {
      if (!it->street.empty()) a["street"] = it->street;
      if (!it->city.empty()) a["city"] = it->city;
      if (!it->state.empty()) a["state"] = it->state;
      if (!it->country.empty()) a["countryOrRegion"] = it->country;
      if (!it->postal_code.empty()) a["postalCode"] = it->postal_code;
    }
    o[field] = std::move(a);
  }
  return o;
}

// Applies a Graph contact body (a create's or a PATCH's) to `c`. Members absent stay as they
// are; null or an empty value clears. Errors: a member Graph would refuse, as its message.
std::optional<std::string> apply_contact(const json::object& body, model::Contact& c, std::optional<SysSeconds>& birthday,
                                         std::map<std::string, std::string>& extended) {
  auto text = [&](std::string_view key, std::string& field) -> std::optional<std::string> {
    const auto* v = body.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_null()) field.clear();
    else if (v->is_string()) field = std::string(v->as_string());
    else return "Invalid value for property '" + std::string(key) + "'.";
    return std::nullopt;
  };
  for (auto [key, field] : std::initializer_list<std::pair<std::string_view, std::string*>>{
           {"displayName", &c.display_name}, {"givenName", &c.given_name}, {"middleName", &c.middle_name},
           {"surname", &c.surname}, {"nickName", &c.nickname}, {"fileAs", &c.file_as}, {"companyName", &c.company},
           {"jobTitle", &c.job_title}, {"personalNotes", &c.notes}}) {
    if (auto problem = text(key, *field)) return problem;
  }
  if (const auto* v = body.if_contains("emailAddresses")) {
    if (!v->is_array()) return std::string("Invalid value for property 'emailAddresses'.");
    c.emails.clear();
    int i = 0;
    for (const auto& e : v->as_array()) {
      ++i;
      if (!e.is_object() || i > 3) return std::string("Invalid value for property 'emailAddresses'.");
      const auto address = str(e.as_object(), "address");
      if (!address.empty()) c.emails.push_back({"EmailAddress" + std::to_string(i), address, str(e.as_object(), "name")});
    }
  }
  auto set_phone = [&](const std::string& key, const std::string& number) {
    std::erase_if(c.phones, [&](const auto& p) { return p.key == key; });
    if (!number.empty()) c.phones.push_back({key, number});
  };
  for (int l = 0; l < 2; ++l) {
    const auto* v = body.if_contains(kPhoneLists[l]);
    if (!v) continue;
    if (!v->is_array() || v->as_array().size() > 2) return "Invalid value for property '" + std::string(kPhoneLists[l]) + "'.";
    for (int i = 0; i < 2; ++i) {
      const auto& list = v->as_array();
      set_phone(kPhoneKeys[l][i], i < static_cast<int>(list.size()) && list[i].is_string() ? std::string(list[i].as_string()) : "");
    }
  }
  if (const auto* v = body.if_contains("mobilePhone")) set_phone("MobilePhone", v->is_string() ? std::string(v->as_string()) : "");
  for (const auto& [key, field] : kAddresses) {
    const auto* v = body.if_contains(field);
    if (!v) continue;
    std::erase_if(c.addresses, [&](const auto& a) { return a.key == key; });
    if (v->is_null()) continue;
    if (!v->is_object()) return "Invalid value for property '" + std::string(field) + "'.";
    const auto& a = v->as_object();
    model::PostalAddress pa{key, str(a, "street"), str(a, "city"), str(a, "state"), str(a, "postalCode"), str(a, "countryOrRegion")};
    if (!(pa.street.empty() && pa.city.empty() && pa.state.empty() && pa.postal_code.empty() && pa.country.empty()))
      c.addresses.push_back(std::move(pa));
  }
  if (const auto* v = body.if_contains("birthday")) {
    if (v->is_null()) {
      c.birthday.reset();
      birthday.reset();
    } else {
      auto instant = v->is_string() ? parse_xs_datetime(v->as_string()) : std::nullopt;
      if (!instant) return std::string("Cannot convert the literal to the expected type 'Edm.DateTimeOffset'.");
      birthday = *instant;
      c.birthday = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(*instant + std::chrono::hours(12))};
    }
  }
  if (const auto* v = body.if_contains("categories")) {
    if (!v->is_array()) return std::string("Invalid value for property 'categories'.");
    c.categories.clear();
    for (const auto& cat : v->as_array())
      if (cat.is_string()) c.categories.emplace_back(cat.as_string());
  }
  if (const auto* v = body.if_contains("singleValueExtendedProperties")) {
    if (!v->is_array()) return std::string("Invalid value for property 'singleValueExtendedProperties'.");
    for (const auto& p : v->as_array()) {
      if (!p.is_object()) return std::string("Invalid value for property 'singleValueExtendedProperties'.");
      auto key = extended_key_of(str(p.as_object(), "id"));
      if (!key) return "The property id '" + str(p.as_object(), "id") + "' is not valid.";
      extended[*key] = str(p.as_object(), "value");
    }
  }
  return std::nullopt;
}

}  // namespace

std::string graph_id(const std::string& ews) {
  if (ews.rfind(kEwsPrefix, 0) != 0) return ews;
  auto raw = base64_decode(ews.substr(kEwsPrefix.size()));
  return raw ? std::string(kGraphPrefix) + b64url(*raw) : ews;
}

std::optional<std::string> ews_id(const std::string& graph) {
  if (graph.rfind(kGraphPrefix, 0) != 0) return std::nullopt;
  auto raw = from_b64url(graph.substr(kGraphPrefix.size()));
  if (!raw || raw->rfind("exsim:", 0) != 0) return std::nullopt;
  return std::string(kEwsPrefix) + base64_encode(*raw);
}

http::Response GraphEndpoint::batch(const http::Request& req) {
  ++stats_.operations["batch"];
  if (req.method != "POST") return graph_error(405, "Request_BadRequest", "The method is not allowed.");
  json::error_code ec;
  auto body = json::parse(req.body, ec);
  const auto* requests = !ec && body.is_object() ? body.as_object().if_contains("requests") : nullptr;
  if (!requests || !requests->is_array() || requests->as_array().empty())
    return graph_error(400, "BadRequest", "Invalid batch payload format.");
  if (requests->as_array().size() > 20)
    return graph_error(400, "BadRequest", "Invalid batch payload format: the number of requests exceeds the limit of 20.");
  // The answer is written as text: each sub-request's answer body, JSON already, goes in as it is.
  std::vector<std::string> responses;
  std::set<std::string> ids;
  for (const auto& r : requests->as_array()) {
    const auto* o = r.if_object();
    const std::string id = o ? str(*o, "id") : "";
    const std::string url = o ? str(*o, "url") : "";
    if (id.empty() || url.empty() || url.front() != '/' || !ids.insert(id).second)
      return graph_error(400, "BadRequest", "Each request needs a unique id and a url relative to the version.");
    // Each request as if sent on its own, with the batch's token; each meets the throttle alone.
    http::Request sub;
    sub.method = str(*o, "method").empty() ? "GET" : str(*o, "method");
    sub.url = std::string(kRoot) + url;
    sub.headers = {{"Authorization", std::string(req.header("Authorization"))}};
    if (const auto* h = o->if_contains("headers"); h && h->is_object())
      for (const auto& [k, v] : h->as_object())
        if (v.is_string()) sub.headers.push_back({std::string(k), std::string(v.as_string())});
    if (const auto* b = o->if_contains("body")) sub.body = json::serialize(*b);
    --stats_.requests;  // counted as part of the batch
    auto answer = handle(sub);
    json::object headers;
    for (const auto& [k, v] : answer.headers) headers[k] = v;
    const bool is_json = answer.header("Content-Type").starts_with("application/json");
    std::string text = R"({"id":)" + json::serialize(json::string_view(id)) + R"(,"status":)" + std::to_string(answer.status) +
                       R"(,"headers":)" + json::serialize(headers) + R"(,"body":)";
    text += answer.body.empty() ? "null" : is_json ? answer.body : json::serialize(json::string_view(answer.body));
    responses.push_back(std::move(text) + "}");
  }
  // Graph answers a batch's requests in any order.
  std::reverse(responses.begin(), responses.end());
  std::string all = R"({"responses":[)";
  for (std::size_t i = 0; i < responses.size(); ++i) all += (i > 0 ? "," : "") + responses[i];
  auto out = json_response(200, nullptr);
  out.body = std::move(all) + "]}";
  return out;
}

std::optional<http::Response> GraphEndpoint::throttle(const std::string& mailbox) {
  auto& t = tenant_.graph_throttle;
  auto refuse = [&](int retry_after_s, std::string_view message) {
    ++stats_.throttled;
    auto r = graph_error(429, "ApplicationThrottled", message);
    if (retry_after_s > 0) r.headers.push_back({"Retry-After", std::to_string(retry_after_s)});
    return r;
  };
  if (t.next > 0) {
    --t.next;
    return refuse(t.retry_after_s, "Application is over its MailboxConcurrency limit.");
  }
  if (t.budget <= 0) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  auto& recent = recent_[mailbox];
  while (!recent.empty() && now - recent.front() >= t.window) recent.pop_front();
  if (static_cast<int>(recent.size()) >= t.budget) {
    const auto wait = std::chrono::ceil<std::chrono::seconds>(t.window - (now - recent.front()));
    return refuse(static_cast<int>(std::max<std::int64_t>(1, wait.count())), "Application is over its request limit for this mailbox.");
  }
  recent.push_back(now);
  return std::nullopt;
}

namespace {

// The request target with the bytes RFC 3986 leaves out of a query ({, }, |, ...) percent-encoded:
// clients send them as WHATWG URLs leave them (Graph's JavaScript SDK puts an extended
// property's "{guid}" into $filter as it is), and Graph takes them.
std::string lenient_target(std::string_view target) {
  static constexpr std::string_view kAllowed = "-._~:/?#[]@!$&'()*+,;=%";
  std::string out;
  for (unsigned char c : target) {
    if (std::isalnum(c) || kAllowed.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

http::Response GraphEndpoint::handle(const http::Request& req) {
  ++stats_.requests;
  auto target = http::parse_request_target(lenient_target(req.url));
  if (!target) return graph_error(400, "BadRequest", "Invalid request.");
  auto& seg = target->segments;
  if (seg.size() == 3 && seg[0] == "graph" && seg[1] == "v1.0" && seg[2] == "$batch") return batch(req);
  // An upload session's URL: authorised by the URL itself.
  if (seg.size() == 4 && seg[0] == "graph" && seg[1] == "v1.0" && seg[2] == "uploads") return upload(req, seg[3]);
  // /graph/v1.0/users/{user}/...
  if (seg.size() < 4 || seg[0] != "graph" || seg[1] != "v1.0" || seg[2] != "users")
    return graph_error(400, "BadRequest", "Resource not found for the segment '" + (seg.size() > 2 ? seg[2] : "") + "'.");

  std::string_view auth = req.header("Authorization");
  const std::string token(auth.size() > 7 && auth.substr(0, 7) == "Bearer " ? auth.substr(7) : std::string_view());
  if (token.empty() || !tenant_.access_token_valid(token, Tenant::Audience::graph)) {
    ++stats_.unauthorized;
    return graph_error(401, "InvalidAuthenticationToken",
                       token.empty() ? "Access token is empty." : "Access token has expired or is not yet valid.");
  }
  const std::string user = normalize_mailbox_address(seg[3]);
  Mailbox* mb = tenant_.mailbox(user);
  if (!mb) return graph_error(404, "ErrorInvalidUser", "The requested user '" + seg[3] + "' is invalid.");
  const bool app = tenant_.access_token_is_app(token);
  if (app && tenant_.graph_rbac_scope && !tenant_.graph_rbac_scope->contains(user))
    return graph_error(403, "ErrorAccessDenied", "Access to OData is disabled.");
  if (!app && (!tenant_.full_access || tenant_.full_access_denied.contains(user)))
    return graph_error(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.");

  if (auto refused = throttle(user)) return std::move(*refused);
  if (prefer_header(req).find("IdType=\"ImmutableId\"") == std::string::npos) ++stats_.without_immutable_ids;

  const std::string user_base = base_ + std::string(kRoot) + "/users/" + seg[3];
  const std::vector<std::string> rest(seg.begin() + 4, seg.end());
  const bool folder = rest.size() >= 3 && rest[0] == "contactFolders" && rest[1] == "contacts" && rest[2] == "contacts";

  // POST .../translateExchangeIds: EWS ids to immutable REST ids (the only direction the
  // simulator knows), each id answered with its targetId or, for one not of this mailbox, with
  // errorDetails. App-only callers need User.Read.All, as on Graph.
  if (rest.size() == 1 && rest[0] == "translateExchangeIds" && req.method == "POST") {
    ++stats_.operations["translate"];
    if (app && !tenant_.graph_app_roles.contains("User.Read.All"))
      return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    json::error_code ec;
    auto body = json::parse(req.body, ec);
    const auto* o = ec ? nullptr : body.if_object();
    const auto* input = o ? o->if_contains("inputIds") : nullptr;
    if (!input || !input->is_array() || str(*o, "sourceIdType") != "ewsId" ||
        str(*o, "targetIdType") != "restImmutableEntryId")
      return graph_error(400, "ErrorInvalidRequest", "The request is invalid.");
    if (input->as_array().size() > 1000)
      return graph_error(400, "ErrorInvalidRequest", "The number of input ids exceeds the limit of 1000.");
    json::array value;
    for (const auto& id : input->as_array()) {
      if (!id.is_string()) return graph_error(400, "ErrorInvalidRequest", "The request is invalid.");
      const std::string ews(id.as_string());
      if (tenant_.find_contact(*mb, ews) || tenant_.find_event(*mb, ews))
        value.push_back(json::object{{"sourceId", ews}, {"targetId", graph_id(ews)}});
      else
        value.push_back(json::object{
            {"sourceId", ews},
            {"errorDetails", json::object{{"code", "ErrorItemNotFound"}, {"message", "The specified object was not found in the store."}}}});
    }
    return json_response(200, json::object{{"@odata.context", base_ + std::string(kRoot) +
                                                                   "/$metadata#Collection(microsoft.graph.convertIdResult)"},
                                            {"value", std::move(value)}});
  }

  // GET .../contactFolders/contacts/contacts/delta
  if (folder && rest.size() == 4 && rest[3] == "delta" && req.method == "GET") {
    ++stats_.operations["delta"];
    std::uint64_t since = 0;
    for (const char* param : {"$skiptoken", "$deltatoken"}) {
      auto it = target->query.find(param);
      if (it == target->query.end()) continue;
      auto raw = from_b64url(it->second);
      auto parsed = raw ? tenant_.parse_sync_state(*mb, "contacts", base64_encode(*raw)) : std::nullopt;
      if (!parsed)
        return graph_error(410, "SyncStateNotFound", "The sync state generation is not found; generation=" +
                                                          std::to_string(mb->epoch) + ";");
      since = *parsed;
    }
    int page = kDefaultPageSize;
    const std::string prefer = prefer_header(req);
    if (auto p = prefer.find("odata.maxpagesize="); p != std::string::npos)
      page = std::clamp(std::atoi(prefer.c_str() + p + 18), 1, kMaxPageSize);
    std::uint64_t next = 0;
    bool last = true;
    const auto changes = tenant_.changes_since(*mb, since, page, next, last);
    json::array value;
    for (const auto& ch : changes) {
      if (ch.type == ChangeType::remove)
        value.push_back(json::object{{"@odata.type", "#microsoft.graph.contact"},
                                     {"id", graph_id(ch.item->id)},
                                     {"@removed", json::object{{"reason", "deleted"}}}});
      else
        value.push_back(contact_json(*ch.item));
    }
    const auto state = base64_decode(tenant_.sync_state(*mb, "contacts", next)).value_or("");
    json::object body{{"@odata.context", base_ + std::string(kRoot) + "/$metadata#Collection(contact)"}};
    body[last ? "@odata.deltaLink" : "@odata.nextLink"] =
        user_base + "/contactFolders/contacts/contacts/delta?" + (last ? "$deltatoken=" : "$skiptoken=") + b64url(state);
    body["value"] = std::move(value);
    return json_response(200, body);
  }

  if (!rest.empty() && rest[0] == "messages") return mail(*mb, req, *target, rest);
  if (!rest.empty() && (rest[0] == "calendarView" || rest[0] == "calendar" || rest[0] == "events"))
    return calendar(*mb, req, *target, rest, user_base);

  // GET (list, $count, $filter) and POST (create) .../contactFolders/contacts/contacts
  if (folder && rest.size() == 3) {
    if (req.method == "POST") {
      ++stats_.operations["create"];
      json::error_code ec;
      auto body = json::parse(req.body, ec);
      if (ec || !body.is_object()) return graph_error(400, "RequestBodyRead", "Invalid JSON in the request body.");
      model::Contact c;
      std::optional<SysSeconds> birthday;
      std::map<std::string, std::string> extended;
      if (auto problem = apply_contact(body.as_object(), c, birthday, extended))
        return graph_error(400, "RequestBodyRead", *problem);
      const auto& created = tenant_.create_contact(*mb, c);
      auto& stored = mb->contacts.at(created.id);
      stored.extended = std::move(extended);
      if (birthday) stored.birthday_instant = *birthday;
      return json_response(201, contact_json(stored));
    }
    if (req.method != "GET") return graph_error(405, "Request_BadRequest", "The method is not allowed.");
    ++stats_.operations["list"];
    std::optional<std::pair<std::string, std::string>> tag;
    if (auto f = target->query.find("$filter"); f != target->query.end()) {
      tag = tag_filter(f->second);
      if (!tag) return graph_error(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.");
    }
    int top = kDefaultPageSize;
    if (auto t = target->query.find("$top"); t != target->query.end()) top = std::clamp(std::atoi(t->second.c_str()), 1, kMaxPageSize);
    json::array value;
    std::int64_t count = 0;
    for (const auto& [id, sc] : mb->contacts) {
      if (sc.deleted) continue;
      if (tag) {
        auto it = sc.extended.find(tag->first);
        // The value compare is case-insensitive, as Exchange's is.
        if (it == sc.extended.end() || normalize_mailbox_address(it->second) != normalize_mailbox_address(tag->second)) continue;
      }
      ++count;
      if (static_cast<int>(value.size()) < top) value.push_back(contact_json(sc));
    }
    json::object body{{"@odata.context", base_ + std::string(kRoot) + "/$metadata#users('" + seg[3] + "')/contactFolders('contacts')/contacts"}};
    if (auto c = target->query.find("$count"); c != target->query.end() && c->second == "true") body["@odata.count"] = count;
    body["value"] = std::move(value);
    return json_response(200, body);
  }

  // GET, PATCH, DELETE .../contacts/{id}
  if (rest.size() == 2 && rest[0] == "contacts") {
    auto id = ews_id(rest[1]);
    const SimContact* sc = id ? tenant_.find_contact(*mb, *id) : nullptr;
    if (!sc) return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    if (req.method == "GET") {
      ++stats_.operations["get"];
      return json_response(200, contact_json(*sc));
    }
    if (req.method == "DELETE") {
      ++stats_.operations["delete"];
      tenant_.delete_contact(*mb, *id);
      return {204, {}, ""};
    }
    if (req.method == "PATCH") {
      ++stats_.operations["update"];
      if (auto stale = stale_if_match(req, sc->change_key())) return std::move(*stale);
      json::error_code ec;
      auto body = json::parse(req.body, ec);
      if (ec || !body.is_object()) return graph_error(400, "RequestBodyRead", "Invalid JSON in the request body.");
      model::Contact c = sc->contact;
      std::optional<SysSeconds> birthday;
      std::map<std::string, std::string> extended = sc->extended;
      if (auto problem = apply_contact(body.as_object(), c, birthday, extended))
        return graph_error(400, "RequestBodyRead", *problem);
      const auto* updated = tenant_.write_contact(*mb, *id, c, birthday);
      mb->contacts.at(*id).extended = std::move(extended);
      return json_response(200, contact_json(*updated));
    }
    return graph_error(405, "Request_BadRequest", "The method is not allowed.");
  }
  return graph_error(400, "BadRequest", "Resource not found for the segment '" + (rest.empty() ? "" : rest[0]) + "'.");
}

}  // namespace exsync::sim
