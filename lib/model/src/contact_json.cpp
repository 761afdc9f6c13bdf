#include "exsync/model/contact_json.hpp"

#include "json_fields.hpp"

namespace exsync::model {

std::string contact_to_json(const Contact& c, const std::optional<ItemIdentity>& identity) {
  // Built on one arena and thrown away whole: no allocation per member.
  unsigned char arena[8192];
  json::monotonic_resource mr(arena, sizeof arena);
  json::object o(&mr);
  put_identity(o, identity);
  put(o, "display_name", c.display_name);
  put(o, "given_name", c.given_name);
  put(o, "middle_name", c.middle_name);
  put(o, "surname", c.surname);
  put(o, "nickname", c.nickname);
  put(o, "file_as", c.file_as);
  put(o, "company", c.company);
  put(o, "job_title", c.job_title);
  if (!c.emails.empty()) {
    json::array a(o.storage());
    for (const auto& e : c.emails) {
      json::object x(o.storage());
      put(x, "key", e.key);
      put(x, "address", e.address);
      put(x, "name", e.name);
      a.push_back(std::move(x));
    }
    o["emails"] = std::move(a);
  }
  if (!c.phones.empty()) {
    json::array a(o.storage());
    for (const auto& p : c.phones) {
      json::object x(o.storage());
      put(x, "key", p.key);
      put(x, "number", p.number);
      a.push_back(std::move(x));
    }
    o["phones"] = std::move(a);
  }
  if (!c.addresses.empty()) {
    json::array a(o.storage());
    for (const auto& p : c.addresses) {
      json::object x(o.storage());
      put(x, "key", p.key);
      put(x, "street", p.street);
      put(x, "city", p.city);
      put(x, "state", p.state);
      put(x, "postal_code", p.postal_code);
      put(x, "country", p.country);
      a.push_back(std::move(x));
    }
    o["addresses"] = std::move(a);
  }
  if (c.birthday) o["birthday"] = format_date(*c.birthday);
  put(o, "notes", c.notes);
  if (!c.categories.empty()) o["categories"] = strings(c.categories);
  if (c.last_modified) o["last_modified"] = format_rfc3339_utc(*c.last_modified);
  return json::serialize(o);
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
