// A contact as exsync understands it, independent of how a remote protocol encodes it.
//
// Field names follow the JSON shape the CRM reads (README, "Contact JSON"). `key` values are
// Exchange's dictionary keys ("EmailAddress1", "MobilePhone", "Home"), which Microsoft Graph
// maps one to one, so they double as the protocol-neutral names.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "exsync/core/time_format.hpp"

namespace exsync::model {

struct EmailAddress {
  std::string key;  // EmailAddress1..3
  std::string address;
  std::string name;
  bool operator==(const EmailAddress&) const = default;
};

struct PhoneNumber {
  std::string key;  // BusinessPhone, HomePhone, MobilePhone, ...
  std::string number;
  bool operator==(const PhoneNumber&) const = default;
};

struct PostalAddress {
  std::string key;  // Business, Home, Other
  std::string street;
  std::string city;
  std::string state;
  std::string postal_code;
  std::string country;
  bool operator==(const PostalAddress&) const = default;
};

struct Contact {
  std::string display_name;
  std::string given_name;
  std::string middle_name;
  std::string surname;
  std::string nickname;
  std::string file_as;
  std::string company;
  std::string job_title;
  std::vector<EmailAddress> emails;
  std::vector<PhoneNumber> phones;
  std::vector<PostalAddress> addresses;
  // The calendar date the user entered; see ews's birthday note for how it is recovered.
  std::optional<std::chrono::year_month_day> birthday;
  std::string notes;  // plain text
  std::vector<std::string> categories;
  std::optional<SysSeconds> last_modified;  // UTC
  bool operator==(const Contact&) const = default;
};

// Puts the keyed collections (emails, phones, addresses) in the order of their keys, which is
// the order of Exchange's schema. Each protocol lists them in its own order (EWS as the server
// stored them, Graph by its own fields), and the CRM in whatever order it sent: every reader
// puts them in this one order, so that one contact reads the same whichever way it came.
void sort_by_key(Contact& c);

}  // namespace exsync::model
