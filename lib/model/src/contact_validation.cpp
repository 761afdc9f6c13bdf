#include "exsync/model/contact_validation.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>

#include "exsync/core/mailbox_address.hpp"
#include "exsync/model/time_zone.hpp"

namespace exsync::model {
namespace {

// Exchange's EmailAddressKeyType, PhoneNumberKeyType and PhysicalAddressKeyType.
constexpr std::array<std::string_view, 3> kEmailKeys = {"EmailAddress1", "EmailAddress2", "EmailAddress3"};
constexpr std::array<std::string_view, 19> kPhoneKeys = {
    "AssistantPhone", "BusinessFax", "BusinessPhone", "BusinessPhone2", "Callback", "CarPhone", "CompanyMainPhone",
    "HomeFax", "HomePhone", "HomePhone2", "Isdn", "MobilePhone", "OtherFax", "OtherTelephone", "Pager",
    "PrimaryPhone", "RadioPhone", "Telex", "TtyTddPhone"};
constexpr std::array<std::string_view, 3> kAddressKeys = {"Business", "Home", "Other"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& keys, const std::string& key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

template <std::size_t N>
std::string list(const std::array<std::string_view, N>& keys) {
  std::string out;
  for (auto k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

constexpr std::array<std::string_view, 7> kWeekdays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 10> kRelativeDays = {"Sunday", "Monday", "Tuesday",    "Wednesday", "Thursday",
                                                            "Friday", "Saturday", "Day", "Weekday", "WeekendDay"};
constexpr std::array<std::string_view, 5> kDayIndexes = {"First", "Second", "Third", "Fourth", "Last"};
constexpr std::array<std::string_view, 12> kMonthNames = {"January", "February", "March",     "April",   "May",      "June",
                                                          "July",    "August",   "September", "October", "November", "December"};
constexpr std::array<std::string_view, 6> kPatterns = {"daily",           "weekly",          "absolute_monthly",
                                                       "relative_monthly", "absolute_yearly", "relative_yearly"};
constexpr std::array<std::string_view, 3> kRanges = {"no_end", "end_date", "numbered"};

// A pattern and range both protocols can write: the members each pattern needs, and only
// values Exchange's RecurrenceType and Graph's patternedRecurrence both take.
std::optional<std::string> recurrence_problem(const Recurrence& r, const std::string& local_start_date) {
  if (!one_of(kPatterns, r.pattern)) return "recurrence.pattern must be one of " + list(kPatterns);
  const bool yearly = r.pattern.ends_with("yearly"), relative = r.pattern.starts_with("relative");
  if (r.interval < 1 || r.interval > 999) return std::string("recurrence.interval must be between 1 and 999");
  if (yearly && r.interval != 1) return std::string("recurrence.interval of a yearly pattern is 1");
  if (r.pattern == "weekly") {
    if (r.days_of_week.empty()) return std::string("recurrence.days_of_week must name at least one day of a weekly pattern");
    for (const auto& d : r.days_of_week)
      if (!one_of(kWeekdays, d)) return "recurrence.days_of_week of a weekly pattern are among " + list(kWeekdays);
    if (!r.first_day_of_week.empty() && !one_of(kWeekdays, r.first_day_of_week))
      return "recurrence.first_day_of_week must be one of " + list(kWeekdays);
  } else if (relative) {
    if (r.days_of_week.size() != 1 || !one_of(kRelativeDays, r.days_of_week.front()))
      return "recurrence.days_of_week of a relative pattern is one of " + list(kRelativeDays);
    if (!one_of(kDayIndexes, r.day_of_week_index)) return "recurrence.day_of_week_index must be one of " + list(kDayIndexes);
  } else if (!r.days_of_week.empty()) {
    return "recurrence.days_of_week is not part of a " + r.pattern + " pattern";
  }
  if (r.pattern.starts_with("absolute") && (r.day_of_month < 1 || r.day_of_month > 31))
    return std::string("recurrence.day_of_month must be between 1 and 31");
  if (yearly && !one_of(kMonthNames, r.month)) return std::string("recurrence.month must name a month (January..December)");
  if (!one_of(kRanges, r.range)) return "recurrence.range must be one of " + list(kRanges);
  if (!parse_date(r.start_date)) return std::string("recurrence.start_date must be a date (YYYY-MM-DD)");
  if (r.start_date != local_start_date)
    return "recurrence.start_date must be the date the event starts in its time_zone (" + local_start_date + ")";
  if (r.range == "end_date" && (!parse_date(r.end_date) || r.end_date < r.start_date))
    return std::string("recurrence.end_date must be a date (YYYY-MM-DD) on or after start_date");
  if (r.range != "end_date" && !r.end_date.empty()) return "recurrence.end_date is not part of a " + r.range + " range";
  if (r.range == "numbered" && (r.count < 1 || r.count > 999))
    return std::string("recurrence.count must be between 1 and 999");
  return std::nullopt;
}

// The least time between two of the pattern's occurrences.
std::chrono::seconds shortest_gap(const Recurrence& r) {
  using std::chrono::days;
  if (r.pattern == "daily") return days(r.interval);
  if (r.pattern != "weekly") return days(28);
  std::vector<int> offsets;
  for (const auto& d : r.days_of_week) offsets.push_back(static_cast<int>(std::find(kWeekdays.begin(), kWeekdays.end(), d) - kWeekdays.begin()));
  std::sort(offsets.begin(), offsets.end());
  int gap = 7 * r.interval;
  for (std::size_t i = 1; i < offsets.size(); ++i) gap = std::min(gap, offsets[i] - offsets[i - 1]);
  if (offsets.size() > 1 && r.interval == 1) gap = std::min(gap, offsets.front() + 7 - offsets.back());
  return days(std::max(gap, 1));
}

}  // namespace

bool carriable_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (int k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += len;
  }
  return true;
}

namespace {
bool carriable(std::string_view s) { return carriable_text(s); }
}  // namespace

std::optional<std::string> contact_problem(const Contact& c) {
  const std::pair<std::string_view, const std::string*> texts[] = {
      {"display_name", &c.display_name}, {"given_name", &c.given_name}, {"middle_name", &c.middle_name},
      {"surname", &c.surname},           {"nickname", &c.nickname},     {"file_as", &c.file_as},
      {"company", &c.company},           {"job_title", &c.job_title},   {"notes", &c.notes}};
  for (const auto& [name, value] : texts) {
    if (!carriable(*value)) return std::string(name) + " holds invalid UTF-8 or a control character";
    if (value->size() > 256 && name != "notes") return std::string(name) + " is longer than 256 bytes";
  }
  if (c.notes.size() > (1u << 20)) return "notes is longer than 1 MiB";
  if (c.display_name.empty() && c.given_name.empty() && c.surname.empty() && c.company.empty() && c.emails.empty())
    return "a contact needs at least one of display_name, given_name, surname, company or emails";
  auto check_keys = [](auto& entries, auto& keys, std::string_view field) -> std::optional<std::string> {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const auto& key = entries[i].key;
      const std::string where = std::string(field) + "[" + std::to_string(i) + "].key";
      if (!one_of(keys, key)) return where + " \"" + key + "\" is not one of " + list(keys);
      for (std::size_t j = 0; j < i; ++j)
        if (entries[j].key == key) return where + " \"" + key + "\" appears twice";
    }
    return std::nullopt;
  };
  if (auto p = check_keys(c.emails, kEmailKeys, "emails")) return p;
  if (auto p = check_keys(c.phones, kPhoneKeys, "phones")) return p;
  if (auto p = check_keys(c.addresses, kAddressKeys, "addresses")) return p;
  for (std::size_t i = 0; i < c.emails.size(); ++i) {
    const auto& e = c.emails[i];
    if (e.address.empty() || e.address.find('@') == std::string::npos || !carriable(e.address) || !carriable(e.name))
      return "emails[" + std::to_string(i) + "].address must be an email address";
  }
  for (std::size_t i = 0; i < c.phones.size(); ++i)
    if (c.phones[i].number.empty() || !carriable(c.phones[i].number))
      return "phones[" + std::to_string(i) + "].number must not be empty";
  for (std::size_t i = 0; i < c.addresses.size(); ++i) {
    const auto& a = c.addresses[i];
    for (const auto* part : {&a.street, &a.city, &a.state, &a.postal_code, &a.country})
      if (!carriable(*part)) return "addresses[" + std::to_string(i) + "] holds invalid UTF-8 or a control character";
  }
  for (const auto& cat : c.categories)
    if (cat.empty() || !carriable(cat)) return "categories must be non-empty text";
  return std::nullopt;
}

std::optional<std::string> event_problem(const Event& e) {
  for (const auto& [name, value] : {std::pair<std::string_view, const std::string*>{"subject", &e.subject},
                                    {"location", &e.location}, {"body", &e.body}}) {
    if (!carriable(*value)) return std::string(name) + " holds invalid UTF-8 or a control character";
  }
  if (e.subject.size() > 255) return std::string("subject is longer than 255 bytes");
  if (e.location.size() > 255) return std::string("location is longer than 255 bytes");
  if (e.time_zone.empty() || !known_zone(e.time_zone)) return "time_zone \"" + e.time_zone + "\" is not an IANA time zone";
  if (!windows_from_iana(e.time_zone)) return "time_zone \"" + e.time_zone + "\" has no Exchange equivalent";
  const auto start = parse_xs_datetime(e.start), end = parse_xs_datetime(e.end);
  if (!start) return std::string("start must be an RFC 3339 time with an offset");
  if (!end) return std::string("end must be an RFC 3339 time with an offset");
  if (*end < *start) return std::string("end is before start");
  if (e.all_day && (local_midnight(*start, e.time_zone) != *start || local_midnight(*end, e.time_zone) != *end || *end == *start))
    return std::string("an all-day event starts and ends at midnight in its time_zone");
  static const std::set<std::string_view> kFreeBusy = {"", "Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData"};
  if (!kFreeBusy.contains(e.free_busy)) return "free_busy \"" + e.free_busy + "\" is not one of Free, Tentative, Busy, OOF, WorkingElsewhere";
  static const std::set<std::string_view> kSensitivity = {"", "Normal", "Personal", "Private", "Confidential"};
  if (!kSensitivity.contains(e.sensitivity))
    return "sensitivity \"" + e.sensitivity + "\" is not one of Normal, Personal, Private, Confidential";
  if (e.reminder_minutes && (*e.reminder_minutes < 0 || *e.reminder_minutes > 40320))
    return std::string("reminder_minutes must be between 0 and 40320");
  for (std::size_t i = 0; i < e.attendees.size(); ++i) {
    const auto& a = e.attendees[i];
    const std::string where = "attendees[" + std::to_string(i) + "]";
    if (auto problem = mailbox_address_problem(a.address)) return where + ".address \"" + a.address + "\" " + *problem;
    if (a.type != "required" && a.type != "optional" && a.type != "resource")
      return where + ".type must be required, optional or resource";
    if (!carriable(a.name)) return where + ".name holds invalid UTF-8 or a control character";
  }
  for (const auto& cat : e.categories)
    if (cat.empty() || !carriable(cat)) return std::string("categories must be non-empty text");
  if (e.recurrence) {
    if (auto problem = recurrence_problem(*e.recurrence, format_in_zone(*start, e.time_zone).substr(0, 10))) return problem;
    if (*end - *start >= shortest_gap(*e.recurrence))
      return std::string("an occurrence must end before the next one begins (Exchange: ErrorOccurrenceTimeSpanTooBig)");
  } else if (!e.modified_occurrences.empty() || !e.deleted_occurrences.empty()) {
    return std::string("modified_occurrences and deleted_occurrences belong to a series (one with a recurrence)");
  }
  return std::nullopt;
}

}  // namespace exsync::model
