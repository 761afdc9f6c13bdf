#include "exsync/graph/graph_event.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>

#include "exsync/model/occurrences.hpp"
#include "exsync/model/tag.hpp"
#include "exsync/model/time_zone.hpp"
#include "graph_common.hpp"

namespace exsync::graph {

namespace json = boost::json;
using detail::change_key_of;
using detail::obj;
using detail::str;

namespace {

using Names = std::initializer_list<std::pair<std::string_view, std::string_view>>;  // model, Graph

// The model keeps Exchange's spellings; Graph spells the same values in camel case.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kPatterns{{
    {"daily", "daily"},
    {"weekly", "weekly"},
    {"absolute_monthly", "absoluteMonthly"},
    {"relative_monthly", "relativeMonthly"},
    {"absolute_yearly", "absoluteYearly"},
    {"relative_yearly", "relativeYearly"},
}};
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kRanges{{
    {"no_end", "noEnd"}, {"end_date", "endDate"}, {"numbered", "numbered"}}};
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kResponses{{
    {"Unknown", "none"},
    {"Organizer", "organizer"},
    {"Tentative", "tentativelyAccepted"},
    {"Accept", "accepted"},
    {"Decline", "declined"},
    {"NoResponseReceived", "notResponded"},
}};
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kShowAs{{
    {"Free", "free"},
    {"Tentative", "tentative"},
    {"Busy", "busy"},
    {"OOF", "oof"},
    {"WorkingElsewhere", "workingElsewhere"},
    {"NoData", "unknown"},
}};
constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kSensitivity{{
    {"Normal", "normal"}, {"Personal", "personal"}, {"Private", "private"}, {"Confidential", "confidential"}}};
constexpr std::array<std::string_view, 7> kDays{"Sunday", "Monday", "Tuesday", "Wednesday",
                                                "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 5> kIndexes{"First", "Second", "Third", "Fourth", "Last"};
constexpr std::array<std::string_view, 12> kMonths{"January", "February", "March",     "April",   "May",      "June",
                                                   "July",    "August",   "September", "October", "November", "December"};

template <std::size_t N>
std::string to_graph(const std::array<std::pair<std::string_view, std::string_view>, N>& names, std::string_view model) {
  for (const auto& [m, g] : names)
    if (m == model) return std::string(g);
  return {};
}

template <std::size_t N>
std::string from_graph(const std::array<std::pair<std::string_view, std::string_view>, N>& names, std::string_view graph) {
  for (const auto& [m, g] : names)
    if (g == graph) return std::string(m);
  return {};
}

std::string lower_first(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[0])));
  return out;
}

std::string upper_first(std::string_view s) {
  std::string out(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

// An integer member; Graph sometimes sends one as a string ("reminderMinutesBeforeStart": "15").
std::int64_t integer(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_string()) return std::atoll(std::string(v->as_string()).c_str());
  return 0;
}

// A dateTimeTimeZone ({"dateTime": "2024-03-05T09:00:00.0000000", "timeZone": "UTC"}). exsync
// asks for none, so Graph answers in UTC; a zone (a client's outlook.timezone preference, as
// in some captures) is the wall clock there, Windows or IANA named.
std::optional<SysSeconds> instant(const json::object& o, std::string_view key) {
  const auto* t = obj(o, key);
  if (!t) return std::nullopt;
  const auto zone = str(*t, "timeZone");
  const auto text = str(*t, "dateTime");
  if (zone.empty() || zone == "UTC" || zone == "Etc/UTC") return parse_xs_datetime(text);
  const auto iana = model::iana_from_windows(zone);
  if (!iana || !model::known_zone(*iana) || text.size() < 19 || text[10] != 'T') return std::nullopt;
  const auto day = parse_date(text.substr(0, 10));
  const auto midnight_utc = parse_xs_datetime(text.substr(0, 10) + "T00:00:00Z");
  const auto utc_then = parse_xs_datetime(text.substr(0, 19) + "Z");
  if (!day || !midnight_utc || !utc_then) return std::nullopt;
  return model::instant_of_local(*day, *utc_then - *midnight_utc, *iana);
}

// Graph's text body, or the text of an HTML one (tags dropped, the common entities decoded).
std::string body_text(const json::object& o) {
  const auto* b = obj(o, "body");
  if (!b) return {};
  auto content = str(*b, "content");
  if (str(*b, "contentType") != "html") return content;
  std::string out;
  bool in_tag = false;
  for (char c : content) {
    if (c == '<') in_tag = true;
    else if (c == '>') in_tag = false;
    else if (!in_tag) out += c;
  }
  for (auto [entity, text] : Names{{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&nbsp;", " "}, {"&amp;", "&"}}) {
    for (auto at = out.find(entity); at != std::string::npos; at = out.find(entity, at + text.size()))
      out.replace(at, entity.size(), text);
  }
  return out;
}

std::vector<model::Attendee> attendees_of(const json::object& o) {
  std::vector<model::Attendee> out;
  if (const auto* list = o.if_contains("attendees"); list && list->is_array()) {
    for (const auto& v : list->as_array()) {
      if (!v.is_object()) continue;
      const auto& a = v.as_object();
      const auto* addr = obj(a, "emailAddress");
      const auto* status = obj(a, "status");
      out.push_back({addr ? str(*addr, "name") : "", addr ? str(*addr, "address") : "", str(a, "type"),
                     status ? from_graph(kResponses, str(*status, "response")) : ""});
    }
  }
  return out;
}

// The days a pattern names, as the model (and EWS) names them: for relative patterns, the sets
// Graph lists day by day are EWS's Weekday, WeekendDay and Day.
std::vector<std::string> days_from_graph(const json::array& list, bool relative) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& d : list)
    if (d.is_string() && seen.insert(upper_first(d.as_string())).second) out.push_back(upper_first(d.as_string()));
  if (relative) {
    auto is = [&](std::initializer_list<std::string_view> days) {
      return seen.size() == days.size() && std::all_of(days.begin(), days.end(), [&](auto d) { return seen.contains(std::string(d)); });
    };
    if (is({"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"})) return {"Weekday"};
    if (is({"Saturday", "Sunday"})) return {"WeekendDay"};
    if (seen.size() == 7) return {"Day"};
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return std::find(kDays.begin(), kDays.end(), a) < std::find(kDays.begin(), kDays.end(), b);
  });
  return out;
}

json::array days_to_graph(const std::vector<std::string>& days) {
  json::array out;
  for (const auto& d : days) {
    if (d == "Weekday") {
      for (auto w : {"monday", "tuesday", "wednesday", "thursday", "friday"}) out.emplace_back(w);
    } else if (d == "WeekendDay") {
      out.emplace_back("saturday");
      out.emplace_back("sunday");
    } else if (d == "Day") {
      for (auto w : kDays) out.emplace_back(lower_first(w));
    } else {
      out.emplace_back(lower_first(d));
    }
  }
  return out;
}

std::optional<model::Recurrence> recurrence_from_graph(const json::object& o) {
  const auto* rec = obj(o, "recurrence");
  const auto* p = rec ? obj(*rec, "pattern") : nullptr;
  const auto* range = rec ? obj(*rec, "range") : nullptr;
  if (!p || !range) return std::nullopt;
  model::Recurrence r;
  r.pattern = from_graph(kPatterns, str(*p, "type"));
  if (r.pattern.empty()) return std::nullopt;
  const bool yearly = r.pattern.ends_with("yearly");
  const bool relative = r.pattern.starts_with("relative");
  r.interval = yearly ? 1 : std::max<int>(1, static_cast<int>(integer(*p, "interval")));
  if (r.pattern == "weekly" || relative) {
    if (const auto* days = p->if_contains("daysOfWeek"); days && days->is_array())
      r.days_of_week = days_from_graph(days->as_array(), relative);
  }
  if (r.pattern == "weekly") r.first_day_of_week = upper_first(str(*p, "firstDayOfWeek"));
  if (r.pattern.starts_with("absolute")) r.day_of_month = static_cast<int>(integer(*p, "dayOfMonth"));
  if (relative) r.day_of_week_index = upper_first(str(*p, "index"));
  if (yearly) {
    const auto m = integer(*p, "month");
    if (m >= 1 && m <= 12) r.month = std::string(kMonths[static_cast<std::size_t>(m - 1)]);
  }
  r.range = from_graph(kRanges, str(*range, "type"));
  r.start_date = str(*range, "startDate");
  if (r.range == "end_date") r.end_date = str(*range, "endDate");
  if (r.range == "numbered") r.count = static_cast<int>(integer(*range, "numberOfOccurrences"));
  return r;
}

json::object recurrence_to_graph(const model::Recurrence& r, std::string_view windows_zone) {
  json::object pattern{{"type", to_graph(kPatterns, r.pattern)}, {"interval", r.interval}};
  if (!r.days_of_week.empty()) pattern["daysOfWeek"] = days_to_graph(r.days_of_week);
  if (!r.first_day_of_week.empty()) pattern["firstDayOfWeek"] = lower_first(r.first_day_of_week);
  if (r.day_of_month > 0) pattern["dayOfMonth"] = r.day_of_month;
  if (!r.day_of_week_index.empty()) pattern["index"] = lower_first(r.day_of_week_index);
  if (auto m = std::find(kMonths.begin(), kMonths.end(), r.month); m != kMonths.end())
    pattern["month"] = static_cast<int>(m - kMonths.begin()) + 1;
  json::object range{{"type", to_graph(kRanges, r.range)}, {"startDate", r.start_date},
                     {"recurrenceTimeZone", windows_zone}};
  if (r.range == "end_date") range["endDate"] = r.end_date;
  if (r.range == "numbered") range["numberOfOccurrences"] = r.count;
  return json::object{{"pattern", std::move(pattern)}, {"range", std::move(range)}};
}

// The model's instant as Graph's dateTimeTimeZone in the event's zone: its wall-clock time there.
json::object date_time_in(const std::string& rfc3339, const std::string& zone, const std::string& windows_zone) {
  auto t = parse_xs_datetime(rfc3339);
  const std::string local = t && model::known_zone(zone) ? model::format_in_zone(*t, zone).substr(0, 19) : rfc3339.substr(0, 19);
  return json::object{{"dateTime", local}, {"timeZone", windows_zone}};
}

std::string windows_zone_of(const model::Event& e) {
  return model::windows_from_iana(e.time_zone.empty() ? "Etc/UTC" : e.time_zone).value_or("UTC");
}

json::array attendees_json(const model::Event& e) {
  json::array out;
  for (const auto& a : e.attendees)
    out.push_back(json::object{{"emailAddress", json::object{{"name", a.name}, {"address", a.address}}},
                               {"type", a.type.empty() ? "required" : a.type}});
  return out;
}

// Every field of a single event that exsync writes, as create and patch send them.
json::object all_fields(const model::Event& e) {
  const auto zone = windows_zone_of(e);
  json::object o;
  o["subject"] = e.subject;
  o["body"] = json::object{{"contentType", "text"}, {"content", e.body}};
  o["location"] = json::object{{"displayName", e.location}};
  o["start"] = date_time_in(e.start, e.time_zone, zone);
  o["end"] = date_time_in(e.end, e.time_zone, zone);
  o["isAllDay"] = e.all_day;
  o["attendees"] = attendees_json(e);
  json::array cats;
  for (const auto& c : e.categories) cats.emplace_back(c);
  o["categories"] = std::move(cats);
  o["isReminderOn"] = e.reminder_minutes.has_value();
  if (e.reminder_minutes) o["reminderMinutesBeforeStart"] = *e.reminder_minutes;
  if (auto s = to_graph(kShowAs, e.free_busy); !s.empty()) o["showAs"] = s;
  if (auto s = to_graph(kSensitivity, e.sensitivity); !s.empty()) o["sensitivity"] = s;
  if (e.recurrence) o["recurrence"] = recurrence_to_graph(*e.recurrence, zone);
  return o;
}

}  // namespace

Result<EventInstance, std::string> instance_from_graph(const json::object& o) {
  EventInstance i;
  i.id = str(o, "id");
  i.type = str(o, "type");
  i.series_master_id = str(o, "seriesMasterId");
  i.change_key = change_key_of(o);
  if (i.id.empty()) return Fail{std::string("an event without an id")};
  if (i.type.empty()) return Fail{"event " + i.id + " has no type"};
  auto start = instant(o, "start");
  auto end = instant(o, "end");
  if (!start || !end) return Fail{"event " + i.id + " has no start or end in UTC"};
  i.start = *start;
  i.end = *end;
  if (i.type == "occurrence" || i.type == "exception") {
    if (i.series_master_id.empty()) return Fail{"occurrence " + i.id + " names no seriesMasterId"};
    // Occurrence stubs in a delta carry no originalStart; an unmodified occurrence's start is it.
    const auto original = str(o, "originalStart");
    auto at = original.empty() ? std::optional<SysSeconds>(i.start) : parse_xs_datetime(original);
    if (!at) return Fail{"occurrence " + i.id + " has a malformed originalStart"};
    i.original_start = *at;
    i.original_known = !original.empty();
  }
  if (i.type == "exception" && o.contains("subject")) {
    model::OccurrenceDetails d;
    d.subject = str(o, "subject");
    if (const auto* loc = obj(o, "location")) d.location = str(*loc, "displayName");
    d.body = body_text(o);
    d.time_zone = model::iana_from_windows(str(o, "originalStartTimeZone")).value_or("Etc/UTC");
    if (!model::known_zone(d.time_zone)) d.time_zone = "Etc/UTC";
    d.attendees = attendees_of(o);
    if (o.if_contains("isReminderOn") && o.at("isReminderOn") == true)
      d.reminder_minutes = static_cast<int>(integer(o, "reminderMinutesBeforeStart"));
    d.free_busy = from_graph(kShowAs, str(o, "showAs"));
    i.details = std::move(d);
  }
  return i;
}

Result<model::RemoteItem, std::string> event_from_graph(const json::object& o) {
  model::RemoteItem item;
  item.ref = {str(o, "id"), change_key_of(o)};
  if (item.ref.id.empty()) return Fail{std::string("an event without an id")};
  if (item.ref.change_key.empty()) return Fail{"event " + item.ref.id + " has no changeKey"};
  const auto type = str(o, "type");
  if (type != "singleInstance" && type != "seriesMaster")
    return Fail{"event " + item.ref.id + " is of type \"" + type + "\", not a single event or a series"};
  model::Event e;
  e.time_zone = model::iana_from_windows(str(o, "originalStartTimeZone")).value_or("Etc/UTC");
  if (!model::known_zone(e.time_zone)) e.time_zone = "Etc/UTC";
  auto start = instant(o, "start");
  auto end = instant(o, "end");
  if (!start || !end) return Fail{"event " + item.ref.id + " has no start or end in UTC"};
  e.start = model::format_in_zone(*start, e.time_zone);
  e.end = model::format_in_zone(*end, e.time_zone);
  e.uid = str(o, "iCalUId");
  e.subject = str(o, "subject");
  if (const auto* loc = obj(o, "location")) e.location = str(*loc, "displayName");
  e.body = body_text(o);
  e.all_day = o.if_contains("isAllDay") && o.at("isAllDay") == true;
  if (const auto* org = obj(o, "organizer"); org && obj(*org, "emailAddress")) {
    const auto& a = *obj(*org, "emailAddress");
    e.organizer = {str(a, "name"), str(a, "address")};
  }
  e.attendees = attendees_of(o);
  if (const auto* cats = o.if_contains("categories"); cats && cats->is_array())
    for (const auto& c : cats->as_array())
      if (c.is_string()) e.categories.emplace_back(c.as_string());
  if (o.if_contains("isReminderOn") && o.at("isReminderOn") == true)
    e.reminder_minutes = static_cast<int>(integer(o, "reminderMinutesBeforeStart"));
  e.free_busy = from_graph(kShowAs, str(o, "showAs"));
  e.sensitivity = from_graph(kSensitivity, str(o, "sensitivity"));
  e.is_cancelled = o.if_contains("isCancelled") && o.at("isCancelled") == true;
  if (type == "seriesMaster") {
    e.recurrence = recurrence_from_graph(o);
    if (!e.recurrence) return Fail{"series " + item.ref.id + " has no recurrence exsync can read"};
  }
  if (auto modified = str(o, "lastModifiedDateTime"); !modified.empty()) e.last_modified = parse_xs_datetime(modified);
  item.payload = std::move(e);
  return item;
}

void join(model::Event& master, const std::vector<EventInstance>& instances, SysSeconds from, SysSeconds to) {
  master.modified_occurrences.clear();
  master.deleted_occurrences.clear();
  if (!master.recurrence) return;
  std::set<SysSeconds> present;
  for (const auto& i : instances) {
    present.insert(i.original_start);
    if (i.type == "exception")
      master.modified_occurrences.push_back({i.id, format_rfc3339_utc(i.original_start),
                                             model::format_in_zone(i.start, master.time_zone),
                                             model::format_in_zone(i.end, master.time_zone), i.details});
  }
  // The pattern's occurrences in the window that no instance stands for were cancelled.
  for (const auto& o : model::expand(master, from, to)) {
    auto at = parse_xs_datetime(o.original_start);
    if (at && !present.contains(*at)) master.deleted_occurrences.push_back(format_rfc3339_utc(*at));
  }
  model::sort_occurrences(master);
}

json::object event_create_body(const model::Event& event, std::string_view local_id) {
  auto o = all_fields(event);
  o["singleValueExtendedProperties"] =
      json::array{json::object{{"id", model::graph_tag_property_id()}, {"value", std::string(local_id)}}};
  return o;
}

json::object event_patch_body(const model::Event& before, const model::Event& after) {
  const auto a = all_fields(before);
  auto b = all_fields(after);
  json::object out;
  for (const auto& [key, value] : b) {
    const auto* old = a.if_contains(key);
    if (!old || *old != value) out[key] = value;
  }
  for (const auto& [key, value] : a)
    if (!b.contains(key) && key == "reminderMinutesBeforeStart") out["isReminderOn"] = false;
  return out;
}

}  // namespace exsync::graph
