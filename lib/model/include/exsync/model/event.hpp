// A calendar event as exsync understands it, independent of how a remote protocol encodes it.
//
// Instants are kept as RFC 3339 strings with the offset of the event's own time zone
// (`time_zone`, an IANA name), so that the CRM shows what the organiser meant. An all-day event
// starts and ends at local midnight of its dates in that zone. A recurring series carries its
// pattern and range as Exchange gives them, and the occurrences that differ from the pattern:
// moved or changed ones (modified_occurrences) and cancelled ones (deleted_occurrences), each
// identified by its original start in UTC.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "exsync/core/time_format.hpp"

namespace exsync::model {

struct Person {
  std::string name;
  std::string address;
  bool operator==(const Person&) const = default;
};

struct Attendee {
  std::string name;
  std::string address;
  std::string type;      // required, optional, resource
  std::string response;  // Unknown, Organizer, Tentative, Accept, Decline, NoResponseReceived
  bool operator==(const Attendee&) const = default;
};

struct Recurrence {
  // daily, weekly, absolute_monthly, relative_monthly, absolute_yearly, relative_yearly
  std::string pattern;
  int interval = 1;                      // every N days/weeks/months (yearly: 1)
  std::vector<std::string> days_of_week;  // weekly, relative_*: "Monday".."Sunday", "Day", "Weekday", "WeekendDay"
  std::string first_day_of_week;          // weekly
  int day_of_month = 0;                   // absolute_monthly, absolute_yearly
  std::string day_of_week_index;          // relative_*: First, Second, Third, Fourth, Last
  std::string month;                      // *_yearly: "January".."December"
  std::string range;                      // no_end, end_date, numbered
  std::string start_date;                 // YYYY-MM-DD
  std::string end_date;                   // end_date
  int count = 0;                          // numbered
  bool operator==(const Recurrence&) const = default;
};

// What an occurrence shows of its own, as its own item has it: Outlook lets an agent rename one
// occurrence, move it to another room, invite someone to it alone. Fields Outlook did not change
// for the occurrence are the series' at the time they were read.
struct OccurrenceDetails {
  std::string subject;
  std::string location;
  std::string body;
  std::string time_zone;  // IANA
  std::vector<Attendee> attendees;
  std::optional<int> reminder_minutes;
  std::string free_busy;
  bool operator==(const OccurrenceDetails&) const = default;
};

struct OccurrenceChange {
  std::string ews_id;          // the occurrence's own item id
  std::string original_start;  // RFC 3339 UTC: identifies the occurrence within the series
  std::string start;           // where it is now
  std::string end;
  // Its own fields; absent when they were not read (a store written before they were): the
  // series' then stand for them.
  std::optional<OccurrenceDetails> details;
  bool operator==(const OccurrenceChange&) const = default;
};

struct Event {
  std::string uid;  // iCalUId
  std::string subject;
  std::string location;
  std::string body;  // plain text
  std::string start;  // RFC 3339 with the offset of time_zone
  std::string end;
  std::string time_zone;  // IANA name
  bool all_day = false;
  Person organizer;
  std::vector<Attendee> attendees;
  std::vector<std::string> categories;
  std::optional<int> reminder_minutes;  // absent: no reminder
  std::string free_busy;                // Free, Tentative, Busy, OOF, WorkingElsewhere, NoData
  std::string sensitivity;              // Normal, Personal, Private, Confidential
  bool is_cancelled = false;
  std::optional<Recurrence> recurrence;
  std::vector<OccurrenceChange> modified_occurrences;
  std::vector<std::string> deleted_occurrences;  // original starts, RFC 3339 UTC
  std::optional<SysSeconds> last_modified;
  bool operator==(const Event&) const = default;
};

// Puts a series' modified and cancelled occurrences in the order of their original starts: every
// reader gives them so, whatever order the protocol listed them in.
void sort_occurrences(Event& e);

}  // namespace exsync::model
