#include "event_codec.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>

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

std::vector<model::Attendee> attendees_of(const pugi::xml_node& list, std::string_view type) {
  std::vector<model::Attendee> out;
  for (auto a = list.first_child(); a; a = a.next_sibling()) {
    if (!is_element(a, kTypesNs, "Attendee")) continue;
    auto mbx = child(a, kTypesNs, "Mailbox");
    out.push_back({child_text(mbx, kTypesNs, "Name"), child_text(mbx, kTypesNs, "EmailAddress"), std::string(type),
                   "NoResponseReceived"});
  }
  return out;
}

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// t:Recurrence as a client writes it: one pattern element, one range element.
std::optional<model::Recurrence> recurrence_written(const pugi::xml_node& el) {
  static const std::map<std::string_view, std::string_view> kPatterns = {
      {"DailyRecurrence", "daily"},
      {"WeeklyRecurrence", "weekly"},
      {"AbsoluteMonthlyRecurrence", "absolute_monthly"},
      {"RelativeMonthlyRecurrence", "relative_monthly"},
      {"AbsoluteYearlyRecurrence", "absolute_yearly"},
      {"RelativeYearlyRecurrence", "relative_yearly"}};
  static const std::map<std::string_view, std::string_view> kRanges = {
      {"NoEndRecurrence", "no_end"}, {"EndDateRecurrence", "end_date"}, {"NumberedRecurrence", "numbered"}};
  model::Recurrence r;
  for (auto p = el.first_child(); p; p = p.next_sibling()) {
    if (p.type() != pugi::node_element) continue;
    const auto name = local_name(p);
    if (auto it = kPatterns.find(name); it != kPatterns.end()) {
      r.pattern = it->second;
      r.interval = std::max(1, std::atoi(child_text(p, kTypesNs, "Interval").c_str()));
      r.days_of_week = words(child_text(p, kTypesNs, "DaysOfWeek"));
      r.first_day_of_week = child_text(p, kTypesNs, "FirstDayOfWeek");
      r.day_of_week_index = child_text(p, kTypesNs, "DayOfWeekIndex");
      r.day_of_month = std::atoi(child_text(p, kTypesNs, "DayOfMonth").c_str());
      r.month = child_text(p, kTypesNs, "Month");
    } else if (auto range = kRanges.find(name); range != kRanges.end()) {
      r.range = range->second;
      r.start_date = child_text(p, kTypesNs, "StartDate").substr(0, 10);
      r.end_date = child_text(p, kTypesNs, "EndDate").substr(0, 10);
      r.count = std::atoi(child_text(p, kTypesNs, "NumberOfOccurrences").c_str());
    }
  }
  if (r.pattern.empty() || r.range.empty() || r.start_date.empty()) return std::nullopt;
  if (r.pattern == "weekly" && r.first_day_of_week.empty()) r.first_day_of_week = "Sunday";
  return r;
}

// Sets one field of `e` from the element `el` (an item or calendar property); false if unknown.
bool set_field(SimEvent& e, const pugi::xml_node& el) {
  const auto name = local_name(el);
  const std::string text = el.text().get();
  if (name == "Subject") e.subject = text;
  else if (name == "Sensitivity") e.sensitivity = text;
  else if (name == "Body") e.body = text;
  else if (name == "Categories") {
    e.categories.clear();
    for (auto s = el.first_child(); s; s = s.next_sibling())
      if (is_element(s, kTypesNs, "String")) e.categories.emplace_back(s.text().get());
  } else if (name == "ReminderIsSet") {
    if (text == "false") e.reminder_minutes.reset();
    else if (!e.reminder_minutes) e.reminder_minutes = 15;
  } else if (name == "ReminderMinutesBeforeStart") e.reminder_minutes = std::atoi(text.c_str());
  else if (name == "Start") e.start = parse_xs_datetime(text).value_or(e.start);
  else if (name == "End") e.end = parse_xs_datetime(text).value_or(e.end);
  else if (name == "IsAllDayEvent") e.all_day = text == "true";
  else if (name == "LegacyFreeBusyStatus") e.free_busy = text;
  else if (name == "Location") e.location = text;
  else if (name == "StartTimeZone") e.windows_zone = el.attribute("Id").value();
  else if (name == "EndTimeZone") {
  } else if (name == "RequiredAttendees" || name == "OptionalAttendees" || name == "Resources") {
    const std::string type = name == "RequiredAttendees" ? "required" : name == "OptionalAttendees" ? "optional" : "resource";
    std::erase_if(e.attendees, [&](const model::Attendee& a) { return a.type == type; });
    for (auto& a : attendees_of(el, type)) e.attendees.push_back(std::move(a));
  } else if (name == "Recurrence") {
    e.recurrence = recurrence_written(el);
    if (!e.recurrence) return false;
  } else if (name == "ExtendedProperty") {
    e.extended[extended_key(child(el, kTypesNs, "ExtendedFieldURI"))] = child_text(el, kTypesNs, "Value");
  } else {
    return false;
  }
  return true;
}

}  // namespace

SimEvent read_written_event(const pugi::xml_node& x) {
  SimEvent e;
  e.free_busy = "Busy";
  e.sensitivity = "Normal";
  for (auto el = x.first_child(); el; el = el.next_sibling())
    if (el.type() == pugi::node_element) set_field(e, el);
  if (e.windows_zone.empty()) e.windows_zone = "UTC";
  return e;
}

std::optional<std::string> apply_event_updates(const pugi::xml_node& updates, SimEvent& e) {
  for (auto u = updates.first_child(); u; u = u.next_sibling()) {
    if (u.type() != pugi::node_element) continue;
    const auto op = local_name(u);
    const std::string field = child(u, kTypesNs, "FieldURI").attribute("FieldURI").value();
    if (field.empty()) return "an update without FieldURI";
    const std::string element = field.substr(field.find(':') + 1);
    if (op == "SetItemField") {
      auto value = child(child(u, kTypesNs, "CalendarItem"), kTypesNs, element);
      if (!value || !set_field(e, value)) return "the simulator does not update " + field;
    } else if (op == "DeleteItemField") {
      pugi::xml_document empty;
      auto node = empty.append_child(("t:" + element).c_str());
      empty.document_element().append_attribute("xmlns:t") = std::string(kTypesNs).c_str();
      if (element == "ReminderIsSet" || element == "ReminderMinutesBeforeStart") e.reminder_minutes.reset();
      else if (!set_field(e, node)) return "the simulator does not delete " + field;
    } else {
      return "unknown update " + std::string(op);
    }
  }
  return std::nullopt;
}

}  // namespace exsync::sim
