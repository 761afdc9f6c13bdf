#include "exsync/model/contact_json.hpp"

#include "json_fields.hpp"

namespace exsync::model {

std::string contact_to_json(const Contact& c, const std::optional<ItemIdentity>& identity) {
  std::string out;
  out.reserve(2048);  // a realistic contact is about 1.5 KB
  JsonWriter w(out);
  w.begin_object();
  put_identity(w, identity);
  w.put("display_name", c.display_name);
  w.put("given_name", c.given_name);
  w.put("middle_name", c.middle_name);
  w.put("surname", c.surname);
  w.put("nickname", c.nickname);
  w.put("file_as", c.file_as);
  w.put("company", c.company);
  w.put("job_title", c.job_title);
  if (!c.emails.empty()) {
    w.key("emails");
    w.begin_array();
    for (const auto& e : c.emails) {
      w.begin_object();
      w.put("key", e.key);
      w.put("address", e.address);
      w.put("name", e.name);
      w.end_object();
    }
    w.end_array();
  }
  if (!c.phones.empty()) {
    w.key("phones");
    w.begin_array();
    for (const auto& p : c.phones) {
      w.begin_object();
      w.put("key", p.key);
      w.put("number", p.number);
      w.end_object();
    }
    w.end_array();
  }
  if (!c.addresses.empty()) {
    w.key("addresses");
    w.begin_array();
    for (const auto& p : c.addresses) {
      w.begin_object();
      w.put("key", p.key);
      w.put("street", p.street);
      w.put("city", p.city);
      w.put("state", p.state);
      w.put("postal_code", p.postal_code);
      w.put("country", p.country);
      w.end_object();
    }
    w.end_array();
  }
  if (c.birthday) {
    w.key("birthday");
    w.value(format_date(*c.birthday));
  }
  w.put("notes", c.notes);
  if (!c.categories.empty()) {
    w.key("categories");
    w.begin_array();
    for (const auto& s : c.categories) w.value(s);
    w.end_array();
  }
  if (c.last_modified) {
    w.key("last_modified");
    w.value(format_rfc3339_utc(*c.last_modified));
  }
  w.end_object();
  return out;
}

Result<Contact, std::string> contact_from_json(std::string_view text) {
  auto v = parse_object(text);
  if (!v) return Fail{v.error()};
  std::string err;
  const Reader r{v->as_object(), err};
  Contact c;
  c.display_name = r.str("display_name");
  c.given_name = r.str("given_name");
  c.middle_name = r.str("middle_name");
  c.surname = r.str("surname");
  c.nickname = r.str("nickname");
  c.file_as = r.str("file_as");
  c.company = r.str("company");
  c.job_title = r.str("job_title");
  c.notes = r.str("notes");
  r.objects("emails", [&](const Reader& x) { c.emails.push_back({x.str("key"), x.str("address"), x.str("name")}); });
  r.objects("phones", [&](const Reader& x) { c.phones.push_back({x.str("key"), x.str("number")}); });
  r.objects("addresses", [&](const Reader& x) {
    c.addresses.push_back({x.str("key"), x.str("street"), x.str("city"), x.str("state"), x.str("postal_code"),
                           x.str("country")});
  });
  c.categories = r.list("categories");
  if (auto b = r.str("birthday"); !b.empty()) {
    c.birthday = parse_date(b);
    if (!c.birthday) r.fail("birthday must be a date YYYY-MM-DD");
  }
  if (auto lm = r.str("last_modified"); !lm.empty()) {
    c.last_modified = parse_xs_datetime(lm);
    if (!c.last_modified) r.fail("last_modified must be an RFC 3339 timestamp");
  }
  if (!err.empty()) return Fail{err};
  sort_by_key(c);
  return c;
}

namespace {
constexpr Member kEmailMembers[] = {{"key"}, {"address"}, {"name"}};
constexpr Member kPhoneMembers[] = {{"key"}, {"number"}};
constexpr Member kAddressMembers[] = {{"key"}, {"street"}, {"city"}, {"state"}, {"postal_code"}, {"country"}};
constexpr Member kContactMembers[] = {
    {"display_name"}, {"given_name"}, {"middle_name"}, {"surname"}, {"nickname"}, {"file_as"}, {"company"},
    {"job_title"},    {"emails", kEmailMembers}, {"phones", kPhoneMembers}, {"addresses", kAddressMembers},
    {"birthday"},     {"notes"}, {"categories"}};
}  // namespace

std::optional<std::string> contact_unknown_field(std::string_view text) {
  auto v = parse_object(text);
  if (!v) return std::nullopt;  // the parser says what is wrong
  return unknown_member(v->as_object(), kContactMembers);
}

}  // namespace exsync::model
