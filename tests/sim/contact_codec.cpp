#include "contact_codec.hpp"

#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/xml.hpp"

namespace exsync::sim {
namespace {

using ews::child;
using ews::child_text;
using ews::is_element;
using ews::kTypesNs;
using ews::local_name;

std::string* scalar_field(model::Contact& c, std::string_view uri) {
  if (uri == "contacts:DisplayName") return &c.display_name;
  if (uri == "contacts:GivenName") return &c.given_name;
  if (uri == "contacts:MiddleName") return &c.middle_name;
  if (uri == "contacts:Surname") return &c.surname;
  if (uri == "contacts:Nickname") return &c.nickname;
  if (uri == "contacts:FileAs") return &c.file_as;
  if (uri == "contacts:CompanyName") return &c.company;
  if (uri == "contacts:JobTitle") return &c.job_title;
  if (uri == "item:Body") return &c.notes;
  return nullptr;
}

std::string element_for(std::string_view uri) {
  auto colon = uri.find(':');
  std::string name(uri.substr(colon + 1));
  return name;
}

template <typename T>
T& entry_for(std::vector<T>& list, const std::string& key) {
  for (auto& x : list)
    if (x.key == key) return x;
  list.push_back(T{});
  list.back().key = key;
  return list.back();
}

template <typename T>
void erase_key(std::vector<T>& list, const std::string& key) {
  std::erase_if(list, [&](const T& x) { return x.key == key; });
}

std::string* address_part(model::PostalAddress& a, std::string_view part) {
  if (part == "Street") return &a.street;
  if (part == "City") return &a.city;
  if (part == "State") return &a.state;
  if (part == "CountryOrRegion") return &a.country;
  if (part == "PostalCode") return &a.postal_code;
  return nullptr;
}

std::optional<SysSeconds> birthday_of(const pugi::xml_node& x, model::Contact& c) {
  auto when = parse_xs_datetime(child_text(x, kTypesNs, "Birthday"));
  if (!when) return std::nullopt;
  c.birthday = std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(*when + std::chrono::hours(12))};
  return when;
}

}  // namespace

std::string extended_key(const pugi::xml_node& uri) {
  return std::string(uri.attribute("PropertySetId").value()) + "/" + uri.attribute("PropertyName").value();
}

WrittenContact read_written_contact(const pugi::xml_node& x) {
  WrittenContact w;
  auto& c = w.contact;
  for (auto el = x.first_child(); el; el = el.next_sibling()) {
    if (el.type() != pugi::node_element) continue;
    const auto name = local_name(el);
    if (auto* f = scalar_field(c, name == "Body" ? "item:Body" : "contacts:" + std::string(name))) *f = el.text().get();
    else if (name == "Categories") {
      for (auto s = el.first_child(); s; s = s.next_sibling())
        if (is_element(s, kTypesNs, "String")) c.categories.emplace_back(s.text().get());
    } else if (name == "EmailAddresses") {
      for (auto e = el.first_child(); e; e = e.next_sibling())
        if (is_element(e, kTypesNs, "Entry"))
          c.emails.push_back({e.attribute("Key").value(), e.text().get(), e.attribute("Name").value()});
    } else if (name == "PhoneNumbers") {
      for (auto e = el.first_child(); e; e = e.next_sibling())
        if (is_element(e, kTypesNs, "Entry")) c.phones.push_back({e.attribute("Key").value(), e.text().get()});
    } else if (name == "PhysicalAddresses") {
      for (auto e = el.first_child(); e; e = e.next_sibling()) {
        if (!is_element(e, kTypesNs, "Entry")) continue;
        c.addresses.push_back({e.attribute("Key").value(), child_text(e, kTypesNs, "Street"),
                               child_text(e, kTypesNs, "City"), child_text(e, kTypesNs, "State"),
                               child_text(e, kTypesNs, "PostalCode"), child_text(e, kTypesNs, "CountryOrRegion")});
      }
    } else if (name == "ExtendedProperty") {
      w.extended[extended_key(child(el, kTypesNs, "ExtendedFieldURI"))] = child_text(el, kTypesNs, "Value");
    }
  }
  w.birthday_instant = birthday_of(x, c);
  return w;
}

std::optional<std::string> apply_updates(const pugi::xml_node& updates, WrittenContact& w) {
  auto& c = w.contact;
  for (auto u = updates.first_child(); u; u = u.next_sibling()) {
    if (u.type() != pugi::node_element) continue;
    const auto op = local_name(u);
    const bool set = op == "SetItemField" || op == "AppendToItemField";
    if (!set && op != "DeleteItemField") return "unknown update " + std::string(op);
    auto contact = child(u, kTypesNs, "Contact");
    if (auto uri = child(u, kTypesNs, "FieldURI")) {
      const std::string field = uri.attribute("FieldURI").value();
      if (auto* f = scalar_field(c, field)) {
        *f = set ? child_text(contact, kTypesNs, element_for(field)) : "";
      } else if (field == "item:Categories") {
        c.categories.clear();
        if (set)
          for (auto s = child(contact, kTypesNs, "Categories").first_child(); s; s = s.next_sibling())
            c.categories.emplace_back(s.text().get());
      } else if (field == "contacts:Birthday") {
        c.birthday.reset();
        w.birthday_instant.reset();
        if (set) w.birthday_instant = birthday_of(contact, c);
      } else {
        return "the simulator does not update " + field;
      }
    } else if (auto idx = child(u, kTypesNs, "IndexedFieldURI")) {
      const std::string field = idx.attribute("FieldURI").value();
      const std::string key = idx.attribute("FieldIndex").value();
      if (field == "contacts:EmailAddress") {
        if (!set) erase_key(c.emails, key);
        else {
          auto e = child(child(contact, kTypesNs, "EmailAddresses"), kTypesNs, "Entry");
          auto& entry = entry_for(c.emails, key);
          entry.address = e.text().get();
          entry.name = e.attribute("Name").value();
        }
      } else if (field == "contacts:PhoneNumber") {
        if (!set) erase_key(c.phones, key);
        else entry_for(c.phones, key).number = child(child(contact, kTypesNs, "PhoneNumbers"), kTypesNs, "Entry").text().get();
      } else if (field.rfind("contacts:PhysicalAddress:", 0) == 0) {
        const auto part = std::string_view(field).substr(25);
        auto& entry = entry_for(c.addresses, key);
        auto* target = address_part(entry, part);
        if (!target) return "unknown address part " + field;
        *target = set ? child_text(child(child(contact, kTypesNs, "PhysicalAddresses"), kTypesNs, "Entry"), kTypesNs,
                                   std::string(part))
                      : "";
        if (entry.street.empty() && entry.city.empty() && entry.state.empty() && entry.postal_code.empty() &&
            entry.country.empty())
          erase_key(c.addresses, key);
      } else {
        return "the simulator does not update " + field;
      }
    } else {
      return "an update without FieldURI or IndexedFieldURI";
    }
  }
  return std::nullopt;
}

}  // namespace exsync::sim
