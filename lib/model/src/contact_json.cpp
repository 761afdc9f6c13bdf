#include "exsync/model/contact_json.hpp"

#include <boost/json.hpp>

namespace exsync::model {
namespace json = boost::json;
namespace {

void put(json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

std::string get_str(const json::object& o, std::string_view key, std::string& error) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return {};
  if (!it->value().is_string()) {
    if (error.empty()) error = std::string(key) + " must be a string";
    return {};
  }
  return std::string(it->value().as_string());
}

const json::array* get_array(const json::object& o, std::string_view key, std::string& error) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_array()) {
    if (error.empty()) error = std::string(key) + " must be an array";
    return nullptr;
  }
  return &it->value().as_array();
}

}  // namespace

std::string contact_to_json(const Contact& c, const std::optional<ItemIdentity>& identity) {
  json::object o;
  if (identity) {
    put(o, "id", identity->local_id);
    put(o, "ews_id", identity->remote.id);
    put(o, "change_key", identity->remote.change_key);
  }
  put(o, "display_name", c.display_name);
  put(o, "given_name", c.given_name);
  put(o, "middle_name", c.middle_name);
  put(o, "surname", c.surname);
  put(o, "nickname", c.nickname);
  put(o, "file_as", c.file_as);
  put(o, "company", c.company);
  put(o, "job_title", c.job_title);
  if (!c.emails.empty()) {
    json::array a;
    for (const auto& e : c.emails) {
      json::object x;
      put(x, "key", e.key);
      put(x, "address", e.address);
      put(x, "name", e.name);
      a.push_back(std::move(x));
    }
    o["emails"] = std::move(a);
  }
  if (!c.phones.empty()) {
    json::array a;
    for (const auto& p : c.phones) {
      json::object x;
      put(x, "key", p.key);
      put(x, "number", p.number);
      a.push_back(std::move(x));
    }
    o["phones"] = std::move(a);
  }
  if (!c.addresses.empty()) {
    json::array a;
    for (const auto& p : c.addresses) {
      json::object x;
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
  if (!c.categories.empty()) {
    json::array a;
    for (const auto& cat : c.categories) a.emplace_back(cat);
    o["categories"] = std::move(a);
  }
  if (c.last_modified) o["last_modified"] = format_rfc3339_utc(*c.last_modified);
  return json::serialize(o);
}

Result<Contact, std::string> contact_from_json(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Fail{std::string("is not valid JSON: ") + ec.message()};
  if (!v.is_object()) return Fail{std::string("must be a JSON object")};
  const auto& o = v.as_object();
  std::string err;
  Contact c;
  c.display_name = get_str(o, "display_name", err);
  c.given_name = get_str(o, "given_name", err);
  c.middle_name = get_str(o, "middle_name", err);
  c.surname = get_str(o, "surname", err);
  c.nickname = get_str(o, "nickname", err);
  c.file_as = get_str(o, "file_as", err);
  c.company = get_str(o, "company", err);
  c.job_title = get_str(o, "job_title", err);
  c.notes = get_str(o, "notes", err);
  auto each_object = [&](std::string_view key, auto&& fn) {
    if (const auto* a = get_array(o, key, err)) {
      for (const auto& el : *a) {
        if (!el.is_object()) {
          if (err.empty()) err = std::string(key) + " entries must be objects";
          return;
        }
        fn(el.as_object());
      }
    }
  };
  each_object("emails", [&](const json::object& x) {
    c.emails.push_back({get_str(x, "key", err), get_str(x, "address", err), get_str(x, "name", err)});
  });
  each_object("phones", [&](const json::object& x) {
    c.phones.push_back({get_str(x, "key", err), get_str(x, "number", err)});
  });
  each_object("addresses", [&](const json::object& x) {
    c.addresses.push_back({get_str(x, "key", err), get_str(x, "street", err), get_str(x, "city", err),
                           get_str(x, "state", err), get_str(x, "postal_code", err),
                           get_str(x, "country", err)});
  });
  if (const auto* a = get_array(o, "categories", err)) {
    for (const auto& el : *a) {
      if (!el.is_string()) {
        if (err.empty()) err = "categories must be strings";
        break;
      }
      c.categories.emplace_back(el.as_string());
    }
  }
  if (auto b = get_str(o, "birthday", err); !b.empty()) {
    c.birthday = parse_date(b);
    if (!c.birthday && err.empty()) err = "birthday must be a date YYYY-MM-DD";
  }
  if (auto lm = get_str(o, "last_modified", err); !lm.empty()) {
    c.last_modified = parse_xs_datetime(lm);
    if (!c.last_modified && err.empty()) err = "last_modified must be an RFC 3339 timestamp";
  }
  if (!err.empty()) return Fail{err};
  return c;
}

}  // namespace exsync::model
