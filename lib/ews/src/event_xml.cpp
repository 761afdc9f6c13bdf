#include "event_xml.hpp"

#include <cstdlib>

#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/xml.hpp"
#include "exsync/model/time_zone.hpp"

namespace exsync::ews {
namespace {

model::Person mailbox_of(const pugi::xml_node& parent) {
  auto mbx = child(parent, kTypesNs, "Mailbox");
  return {child_text(mbx, kTypesNs, "Name"), child_text(mbx, kTypesNs, "EmailAddress")};
}

void attendees(const Children& fields, std::string_view element, std::string_view type, model::Event& e) {
  for (auto a = fields.find(kTypesNs, element).first_child(); a; a = a.next_sibling()) {
    if (!is_element(a, kTypesNs, "Attendee")) continue;
    auto p = mailbox_of(a);
    e.attendees.push_back({p.name, p.address, std::string(type), child_text(a, kTypesNs, "ResponseType")});
  }
}

std::vector<std::string> days(const pugi::xml_node& pattern) {
  std::vector<std::string> out;
  const std::string text = child_text(pattern, kTypesNs, "DaysOfWeek");
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    if (end > start) out.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// "2025-07-02Z", "2013-05-19+02:00" -> "2025-07-02"
std::string date_part(const std::string& s) { return s.substr(0, 10); }

std::optional<model::Recurrence> recurrence_of(const pugi::xml_node& rec) {
  if (!rec) return std::nullopt;
  model::Recurrence r;
  static const std::pair<std::string_view, std::string_view> kPatterns[] = {
      {"DailyRecurrence", "daily"},
      {"WeeklyRecurrence", "weekly"},
      {"AbsoluteMonthlyRecurrence", "absolute_monthly"},
      {"RelativeMonthlyRecurrence", "relative_monthly"},
      {"AbsoluteYearlyRecurrence", "absolute_yearly"},
      {"RelativeYearlyRecurrence", "relative_yearly"}};
  for (auto p = rec.first_child(); p; p = p.next_sibling()) {
    if (p.type() != pugi::node_element) continue;
    const auto name = local_name(p);
    for (const auto& [element, pattern] : kPatterns) {
      if (name != element) continue;
      r.pattern = pattern;
      if (auto i = std::atoi(child_text(p, kTypesNs, "Interval").c_str()); i > 0) r.interval = i;
      r.days_of_week = days(p);
      r.first_day_of_week = child_text(p, kTypesNs, "FirstDayOfWeek");
      r.day_of_month = std::atoi(child_text(p, kTypesNs, "DayOfMonth").c_str());
      r.day_of_week_index = child_text(p, kTypesNs, "DayOfWeekIndex");
      r.month = child_text(p, kTypesNs, "Month");
    }
    if (name == "NoEndRecurrence" || name == "EndDateRecurrence" || name == "NumberedRecurrence") {
      r.range = name == "NoEndRecurrence" ? "no_end" : name == "EndDateRecurrence" ? "end_date" : "numbered";
      r.start_date = date_part(child_text(p, kTypesNs, "StartDate"));
      if (auto end = child_text(p, kTypesNs, "EndDate"); !end.empty()) r.end_date = date_part(end);
      r.count = std::atoi(child_text(p, kTypesNs, "NumberOfOccurrences").c_str());
    }
  }
  if (r.pattern.empty()) return std::nullopt;
  return r;
}

std::string in_zone(const std::string& xs, const std::string& zone) {
  auto t = parse_xs_datetime(xs);
  return t ? model::format_in_zone(*t, zone) : std::string();
}

std::string utc(const std::string& xs) {
  auto t = parse_xs_datetime(xs);
  return t ? format_rfc3339_utc(*t) : std::string();
}

}  // namespace

model::Event event_from_xml(const pugi::xml_node& x) {
  model::Event e;
  const Children fields(x);
  auto text = [&](std::string_view local) { return fields.text(kTypesNs, local); };
  e.time_zone = model::iana_from_windows(text("StartTimeZoneId")).value_or("Etc/UTC");
  if (!model::known_zone(e.time_zone)) e.time_zone = "Etc/UTC";
  e.uid = text("UID");
  e.subject = text("Subject");
  e.location = text("Location");
  e.body = text("Body");
  e.all_day = text("IsAllDayEvent") == "true";
  e.start = in_zone(text("Start"), e.time_zone);
  e.end = in_zone(text("End"), e.time_zone);
  if (auto org = fields.find(kTypesNs, "Organizer")) e.organizer = mailbox_of(org);
  attendees(fields, "RequiredAttendees", "required", e);
  attendees(fields, "OptionalAttendees", "optional", e);
  attendees(fields, "Resources", "resource", e);
  for (auto s = fields.find(kTypesNs, "Categories").first_child(); s; s = s.next_sibling())
    if (is_element(s, kTypesNs, "String")) e.categories.emplace_back(s.text().get());
  if (text("ReminderIsSet") != "false" && !text("ReminderMinutesBeforeStart").empty())
    e.reminder_minutes = std::atoi(text("ReminderMinutesBeforeStart").c_str());
  e.free_busy = text("LegacyFreeBusyStatus");
  e.sensitivity = text("Sensitivity");
  e.is_cancelled = text("IsCancelled") == "true";
  e.recurrence = recurrence_of(fields.find(kTypesNs, "Recurrence"));
  for (auto o = fields.find(kTypesNs, "ModifiedOccurrences").first_child(); o; o = o.next_sibling()) {
    if (!is_element(o, kTypesNs, "Occurrence")) continue;
    e.modified_occurrences.push_back({child(o, kTypesNs, "ItemId").attribute("Id").value(),
                                      utc(child_text(o, kTypesNs, "OriginalStart")),
                                      in_zone(child_text(o, kTypesNs, "Start"), e.time_zone),
                                      in_zone(child_text(o, kTypesNs, "End"), e.time_zone)});
  }
  for (auto d = fields.find(kTypesNs, "DeletedOccurrences").first_child(); d; d = d.next_sibling())
    if (is_element(d, kTypesNs, "DeletedOccurrence")) e.deleted_occurrences.push_back(utc(child_text(d, kTypesNs, "Start")));
  if (auto lm = parse_xs_datetime(text("LastModifiedTime"))) e.last_modified = *lm;
  model::sort_occurrences(e);
  return e;
}

}  // namespace exsync::ews
