#include "contact_xml.hpp"

#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/xml.hpp"

namespace exsync::ews {

std::chrono::year_month_day birthday_date(SysSeconds instant) {
  return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(instant + std::chrono::hours(12))};
}

model::Contact contact_from_xml(const pugi::xml_node& x) {
  model::Contact c;
  const Children fields(x);
  auto text = [&](std::string_view local) { return fields.text(kTypesNs, local); };
  c.display_name = text("DisplayName");
  c.given_name = text("GivenName");
  c.middle_name = text("MiddleName");
  c.surname = text("Surname");
  c.nickname = text("Nickname");
  c.file_as = text("FileAs");
  c.company = text("CompanyName");
  c.job_title = text("JobTitle");
  if (auto complete = fields.find(kTypesNs, "CompleteName")) {
    // Older servers put some name parts only in CompleteName.
    if (c.middle_name.empty()) c.middle_name = child_text(complete, kTypesNs, "MiddleName");
    if (c.nickname.empty()) c.nickname = child_text(complete, kTypesNs, "Nickname");
    if (c.given_name.empty()) c.given_name = child_text(complete, kTypesNs, "FirstName");
    if (c.surname.empty()) c.surname = child_text(complete, kTypesNs, "LastName");
  }
  if (auto body = fields.find(kTypesNs, "Body")) c.notes = body.text().get();
  if (auto cats = fields.find(kTypesNs, "Categories")) {
    for (auto s = cats.first_child(); s; s = s.next_sibling()) {
      if (is_element(s, kTypesNs, "String")) c.categories.emplace_back(s.text().get());
    }
  }
  if (auto emails = fields.find(kTypesNs, "EmailAddresses")) {
    for (auto e = emails.first_child(); e; e = e.next_sibling()) {
      if (!is_element(e, kTypesNs, "Entry")) continue;
      std::string address = e.text().get();
      if (address.empty()) continue;
      c.emails.push_back({e.attribute("Key").value(), std::move(address), e.attribute("Name").value()});
    }
  }
  if (auto phones = fields.find(kTypesNs, "PhoneNumbers")) {
    for (auto e = phones.first_child(); e; e = e.next_sibling()) {
      if (!is_element(e, kTypesNs, "Entry")) continue;
      std::string number = e.text().get();
      if (number.empty()) continue;
      c.phones.push_back({e.attribute("Key").value(), std::move(number)});
    }
  }
  if (auto addrs = fields.find(kTypesNs, "PhysicalAddresses")) {
    for (auto e = addrs.first_child(); e; e = e.next_sibling()) {
      if (!is_element(e, kTypesNs, "Entry")) continue;
      model::PostalAddress a{e.attribute("Key").value(),
                             child_text(e, kTypesNs, "Street"),
                             child_text(e, kTypesNs, "City"),
                             child_text(e, kTypesNs, "State"),
                             child_text(e, kTypesNs, "PostalCode"),
                             child_text(e, kTypesNs, "CountryOrRegion")};
      if (a.street.empty() && a.city.empty() && a.state.empty() && a.postal_code.empty() && a.country.empty())
        continue;
      c.addresses.push_back(std::move(a));
    }
  }
  if (auto b = parse_xs_datetime(text("Birthday"))) c.birthday = birthday_date(*b);
  if (auto lm = parse_xs_datetime(text("LastModifiedTime"))) c.last_modified = *lm;
  model::sort_by_key(c);
  return c;
}

}  // namespace exsync::ews
