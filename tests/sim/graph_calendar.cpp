// The simulator's Graph calendar: calendarView delta, events and their instances, list and tag
// filter, create, PATCH and DELETE, over the same calendar the EWS endpoint serves. Written from
// Graph's documentation and the captures in ../shared/graph-captures, apart from the daemon's
// own Graph code.
//
// As on Exchange Online: the series master is never in a calendar view, only its instances; an
// unmodified occurrence comes in a delta as a stub (id, seriesMasterId, type, start, end, etag);
// an instance's etag is its series' change key; a changed series is reported as all its
// instances again, its cancelled occurrences as removals; events outside the window that
// changed come as removals too. The window is frozen into the token, and the round's links
// name the path /calendar/calendarView/delta, as Graph rewrites it.
#include <boost/json.hpp>
#include <algorithm>
#include <cctype>
#include <set>
#include <variant>

#include "codec.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/core/time_format.hpp"
#include "exsync/model/occurrences.hpp"
#include "exsync/model/time_zone.hpp"
#include "graph_endpoint.hpp"
#include "graph_wire.hpp"

namespace exsync::sim {

namespace json = boost::json;
using namespace std::chrono;

namespace {

constexpr int kDefaultPageSize = 10;
constexpr int kMaxPageSize = 1000;
constexpr auto kMaxWindow = days(1825);
constexpr std::string_view kOccurrence = "_OID_";

std::string lower_first(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string camel(const std::string& snake) {
  std::string out;
  bool up = false;
  for (char c : snake) {
    if (c == '_') up = true;
    else out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    if (c != '_') up = false;
  }
  return out;
}

// Graph's dateTimeTimeZone in UTC, with its seven fractional digits.
json::object utc_time(SysSeconds t) {
  auto text = format_rfc3339_utc(t);
  return json::object{{"dateTime", text.substr(0, 19) + ".0000000"}, {"timeZone", "UTC"}};
}

std::string compact(SysSeconds t) {
  std::string s = format_rfc3339_utc(t);
  std::erase_if(s, [](char c) { return c == '-' || c == ':'; });
  return s;  // 20260317T160000Z
}

std::string instance_id(const SimEvent& master, SysSeconds original_start) {
  return graph_id(master.id) + std::string(kOccurrence) + compact(original_start);
}

json::array days_json(const std::vector<std::string>& days) {
  json::array out;
  for (const auto& d : days) {
    if (d == "Weekday") {
      for (auto w : {"monday", "tuesday", "wednesday", "thursday", "friday"}) out.emplace_back(w);
    } else if (d == "WeekendDay") {
      for (auto w : {"saturday", "sunday"}) out.emplace_back(w);
    } else if (d == "Day") {
      for (auto w : {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}) out.emplace_back(w);
    } else {
      out.emplace_back(lower_first(d));
    }
  }
  return out;
}

// A recurrence as Graph normalises it (event_create_seriesmaster_daily_captured.json): every
// member present, zero or a default where the pattern has no use for it.
json::value recurrence_json(const SimEvent& e) {
  if (!e.recurrence) return nullptr;
  const auto& r = *e.recurrence;
  static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
  int month = 0;
  for (int i = 0; i < 12; ++i)
    if (r.month == kMonths[i]) month = i + 1;
  json::object pattern{{"type", camel(r.pattern)},
                       {"interval", r.pattern.ends_with("yearly") ? 1 : r.interval},
                       {"month", month},
                       {"dayOfMonth", r.day_of_month},
                       {"firstDayOfWeek", r.first_day_of_week.empty() ? "sunday" : lower_first(r.first_day_of_week)},
                       {"index", r.day_of_week_index.empty() ? "first" : lower_first(r.day_of_week_index)}};
  if (!r.days_of_week.empty()) pattern["daysOfWeek"] = days_json(r.days_of_week);
  json::object range{{"type", camel(r.range)},
                     {"startDate", r.start_date},
                     {"endDate", r.range == "end_date" ? r.end_date : "0001-01-01"},
                     {"recurrenceTimeZone", e.windows_zone},
                     {"numberOfOccurrences", r.range == "numbered" ? r.count : 0}};
  return json::object{{"pattern", std::move(pattern)}, {"range", std::move(range)}};
}

std::string graph_response(const std::string& ews) {
  if (ews == "Organizer") return "organizer";
  if (ews == "Tentative") return "tentativelyAccepted";
  if (ews == "Accept") return "accepted";
  if (ews == "Decline") return "declined";
  if (ews == "NoResponseReceived") return "notResponded";
  return "none";
}

std::string show_as(const std::string& ews) {
  if (ews == "OOF") return "oof";
  if (ews == "NoData" || ews.empty()) return "unknown";
  return lower_first(ews);
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// An event as Graph returns it. `text_body`: the client asked for outlook.body-content-type="text".
json::object event_json(const SimEvent& e, bool text_body) {
  json::object o;
  o["@odata.etag"] = "W/\"" + e.change_key() + "\"";
  o["id"] = graph_id(e.id);
  o["createdDateTime"] = format_rfc3339_utc(e.created);
  o["lastModifiedDateTime"] = format_rfc3339_utc(e.last_modified);
  o["changeKey"] = e.change_key();
  json::array cats;
  for (const auto& c : e.categories) cats.emplace_back(c);
  o["categories"] = std::move(cats);
  o["originalStartTimeZone"] = e.windows_zone;
  o["originalEndTimeZone"] = e.windows_zone;
  o["iCalUId"] = e.uid;
  o["reminderMinutesBeforeStart"] = e.reminder_minutes.value_or(15);
  o["isReminderOn"] = e.reminder_minutes.has_value();
  o["subject"] = e.subject;
  o["bodyPreview"] = e.body.substr(0, 255);
  o["sensitivity"] = lower_first(e.sensitivity.empty() ? "Normal" : e.sensitivity);
  o["isAllDay"] = e.all_day;
  o["isCancelled"] = e.cancelled;
  o["isOrganizer"] = true;
  o["seriesMasterId"] = nullptr;
  o["showAs"] = show_as(e.free_busy);
  o["type"] = e.recurrence ? "seriesMaster" : "singleInstance";
  o["body"] = text_body ? json::object{{"contentType", "text"}, {"content", e.body}}
                        : json::object{{"contentType", "html"},
                                       {"content", "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; "
                                                   "charset=utf-8\"></head><body><div class=\"PlainText\">" +
                                                       html_escape(e.body) + "</div></body></html>"}};
  o["start"] = utc_time(e.start);
  o["end"] = utc_time(e.end);
  o["location"] = json::object{{"displayName", e.location}, {"locationType", "default"}, {"uniqueIdType", "unknown"}};
  o["recurrence"] = recurrence_json(e);
  json::array attendees;
  for (const auto& a : e.attendees)
    attendees.push_back(json::object{{"type", a.type.empty() ? "required" : a.type},
                                     {"status", json::object{{"response", graph_response(a.response)}, {"time", "0001-01-01T00:00:00Z"}}},
                                     {"emailAddress", json::object{{"name", a.name}, {"address", a.address}}}});
  o["attendees"] = std::move(attendees);
  o["organizer"] = json::object{{"emailAddress", json::object{{"name", e.organizer.name}, {"address", e.organizer.address}}}};
  return o;
}

struct Instance {
  std::string id;
  bool exception = false;
  SysSeconds original_start, start, end;
};

// The series' instances overlapping [from, to): the pattern's occurrences, cancelled ones left
// out and modified ones where they were moved.
std::vector<Instance> instances_of(const SimEvent& e, SysSeconds from, SysSeconds to) {
  std::vector<Instance> out;
  for (const auto& o : model::expand(event_as_model(e), from, to)) {
    auto original = parse_xs_datetime(o.original_start);
    auto start = parse_xs_datetime(o.start);
    auto end = parse_xs_datetime(o.end);
    if (original && start && end) out.push_back({instance_id(e, *original), o.modified, *original, *start, *end});
  }
  return out;
}

json::object instance_json(const SimEvent& master, const Instance& i, bool stub, bool text_body) {
  json::object o;
  if (!stub) {
    const SimEvent::Exception* own = nullptr;
    for (const auto& m : master.modified)
      if (m.original_start == i.original_start) own = &m;
    o = event_json(own ? occurrence_item(master, *own) : master, text_body);
    o["recurrence"] = nullptr;
    o["originalStart"] = format_rfc3339_utc(i.original_start);
  }
  o["@odata.type"] = "#microsoft.graph.event";
  o["@odata.etag"] = "W/\"" + master.change_key() + "\"";
  o["id"] = i.id;
  o["seriesMasterId"] = graph_id(master.id);
  o["type"] = i.exception ? "exception" : "occurrence";
  o["start"] = utc_time(i.start);
  o["end"] = utc_time(i.end);
  return o;
}

bool overlaps(const SimEvent& e, SysSeconds from, SysSeconds to) { return e.start < to && e.end > from; }

json::object removed(const std::string& id) {
  return json::object{{"@odata.type", "#microsoft.graph.event"}, {"id", id}, {"@removed", json::object{{"reason", "deleted"}}}};
}

// Graph's dateTimeTimeZone from a client: the wall-clock time in the named zone (Windows or IANA).
std::optional<SysSeconds> client_time(const json::value* v, std::string* zone_out) {
  if (!v || !v->is_object()) return std::nullopt;
  const auto text = str(v->as_object(), "dateTime");
  const auto zone_name = str(v->as_object(), "timeZone");
  const auto iana = model::iana_from_windows(zone_name.empty() ? "UTC" : zone_name);
  if (!iana || !model::known_zone(*iana) || text.size() < 19) return std::nullopt;
  auto day = parse_date(text.substr(0, 10));
  if (!day || text[10] != 'T') return std::nullopt;
  const int h = std::atoi(text.substr(11, 2).c_str()), m = std::atoi(text.substr(14, 2).c_str()),
            s = std::atoi(text.substr(17, 2).c_str());
  if (zone_out) *zone_out = model::windows_from_iana(*iana).value_or(zone_name);
  return model::instant_of_local(*day, hours(h) + minutes(m) + seconds(s), *iana);
}

// "absoluteMonthly" -> "absolute_monthly", "endDate" -> "end_date".
std::string snake(std::string_view camel_case) {
  std::string out;
  for (char c : camel_case) {
    if (std::isupper(static_cast<unsigned char>(c))) out += '_', out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else out += c;
  }
  return out;
}

std::string upper_first(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

// A client's patternedRecurrence, as Graph takes it; the error Graph would answer otherwise.
std::variant<model::Recurrence, std::string> recurrence_written(const json::value& v) {
  const auto* o = v.if_object();
  const auto* pattern = o ? o->if_contains("pattern") : nullptr;
  const auto* range = o ? o->if_contains("range") : nullptr;
  if (!pattern || !pattern->is_object() || !range || !range->is_object())
    return std::string("Invalid value for property 'recurrence'.");
  const auto& p = pattern->as_object();
  const auto& r = range->as_object();
  model::Recurrence out;
  out.pattern = snake(str(p, "type"));
  static const std::set<std::string> kPatterns = {"daily", "weekly", "absolute_monthly", "relative_monthly",
                                                  "absolute_yearly", "relative_yearly"};
  if (!kPatterns.contains(out.pattern)) return "Invalid value for property 'recurrence.pattern.type': '" + str(p, "type") + "'.";
  if (const auto* i = p.if_contains("interval"); i && i->is_int64()) out.interval = static_cast<int>(i->as_int64());
  if (out.interval < 1) return std::string("The recurrence pattern's interval must be positive.");
  std::vector<std::string> days;
  if (const auto* d = p.if_contains("daysOfWeek"); d && d->is_array())
    for (const auto& day : d->as_array())
      if (day.is_string()) days.push_back(upper_first(std::string(day.as_string())));
  const bool relative = out.pattern.starts_with("relative");
  if (relative && days.size() == 7) days = {"Day"};
  else if (relative && days.size() == 5) days = {"Weekday"};
  else if (relative && days.size() == 2 && std::find(days.begin(), days.end(), "Saturday") != days.end() &&
           std::find(days.begin(), days.end(), "Sunday") != days.end())
    days = {"WeekendDay"};
  if (out.pattern == "weekly" || relative) out.days_of_week = days;
  if ((out.pattern == "weekly" || relative) && out.days_of_week.empty())
    return std::string("The recurrence pattern needs its days of the week.");
  if (out.pattern == "weekly") out.first_day_of_week = upper_first(str(p, "firstDayOfWeek").empty() ? "sunday" : str(p, "firstDayOfWeek"));
  if (relative) out.day_of_week_index = upper_first(str(p, "index").empty() ? "first" : str(p, "index"));
  if (out.pattern.starts_with("absolute"))
    if (const auto* d = p.if_contains("dayOfMonth"); d && d->is_int64()) out.day_of_month = static_cast<int>(d->as_int64());
  if (out.pattern.ends_with("yearly")) {
    static const char* kMonths[] = {"January", "February", "March",     "April",   "May",      "June",
                                    "July",    "August",   "September", "October", "November", "December"};
    const auto* m = p.if_contains("month");
    if (!m || !m->is_int64() || m->as_int64() < 1 || m->as_int64() > 12) return std::string("A yearly pattern needs its month.");
    out.month = kMonths[m->as_int64() - 1];
    out.interval = 1;
  }
  out.range = snake(str(r, "type"));
  out.start_date = str(r, "startDate");
  if (out.start_date.size() != 10) return std::string("The recurrence range needs its startDate.");
  if (out.range == "end_date") out.end_date = str(r, "endDate");
  else if (out.range == "numbered") {
    const auto* n = r.if_contains("numberOfOccurrences");
    out.count = n && n->is_int64() ? static_cast<int>(n->as_int64()) : 0;
    if (out.count < 1) return std::string("A numbered range needs numberOfOccurrences.");
  } else if (out.range != "no_end") {
    return "Invalid value for property 'recurrence.range.type': '" + str(r, "type") + "'.";
  }
  return out;
}

// Applies a client's event body (a create's or a PATCH's) to `e`; members absent stay. Errors:
// what Graph would refuse, as its message.
std::optional<std::string> apply_event(const json::object& body, SimEvent& e) {
  for (auto [key, field] : std::initializer_list<std::pair<std::string_view, std::string*>>{{"subject", &e.subject}}) {
    if (const auto* v = body.if_contains(key)) {
      if (!v->is_string()) return "Invalid value for property '" + std::string(key) + "'.";
      *field = std::string(v->as_string());
    }
  }
  if (const auto* v = body.if_contains("body")) {
    if (!v->is_object()) return std::string("Invalid value for property 'body'.");
    e.body = str(v->as_object(), "content");
  }
  if (const auto* v = body.if_contains("location")) {
    if (!v->is_object()) return std::string("Invalid value for property 'location'.");
    e.location = str(v->as_object(), "displayName");
  }
  if (body.contains("start") || body.contains("end")) {
    std::string zone = e.windows_zone;
    if (body.contains("start")) {
      auto t = client_time(body.if_contains("start"), &zone);
      if (!t) return std::string("Cannot convert the literal to the expected type 'microsoft.graph.dateTimeTimeZone'.");
      e.start = *t;
      e.windows_zone = zone;
    }
    if (body.contains("end")) {
      auto t = client_time(body.if_contains("end"), nullptr);
      if (!t) return std::string("Cannot convert the literal to the expected type 'microsoft.graph.dateTimeTimeZone'.");
      e.end = *t;
    }
    if (e.end < e.start) return std::string("The end time must be after the start time.");
  }
  if (const auto* v = body.if_contains("isAllDay"); v && v->is_bool()) e.all_day = v->as_bool();
  if (const auto* v = body.if_contains("attendees")) {
    if (!v->is_array()) return std::string("Invalid value for property 'attendees'.");
    e.attendees.clear();
    for (const auto& a : v->as_array()) {
      if (!a.is_object()) return std::string("Invalid value for property 'attendees'.");
      const auto* addr = a.as_object().if_contains("emailAddress");
      if (!addr || !addr->is_object()) return std::string("Invalid value for property 'attendees'.");
      e.attendees.push_back({str(addr->as_object(), "name"), str(addr->as_object(), "address"),
                             str(a.as_object(), "type").empty() ? "required" : str(a.as_object(), "type"),
                             "NoResponseReceived"});
    }
  }
  if (const auto* v = body.if_contains("categories"); v && v->is_array()) {
    e.categories.clear();
    for (const auto& c : v->as_array())
      if (c.is_string()) e.categories.emplace_back(c.as_string());
  }
  const auto* on = body.if_contains("isReminderOn");
  const auto* minutes_before = body.if_contains("reminderMinutesBeforeStart");
  if (on && on->is_bool() && !on->as_bool()) e.reminder_minutes.reset();
  if (minutes_before && minutes_before->is_int64() && !(on && on->is_bool() && !on->as_bool()))
    e.reminder_minutes = static_cast<int>(minutes_before->as_int64());
  else if (on && on->is_bool() && on->as_bool() && !e.reminder_minutes)
    e.reminder_minutes = 15;
  if (const auto* v = body.if_contains("showAs"); v && v->is_string()) {
    const std::string s(v->as_string());
    e.free_busy = s == "oof" ? "OOF" : s == "unknown" ? "NoData" : s == "workingElsewhere" ? "WorkingElsewhere"
                                                                                          : std::string(1, static_cast<char>(std::toupper(s[0]))) + s.substr(1);
  }
  if (const auto* v = body.if_contains("sensitivity"); v && v->is_string() && !v->as_string().empty()) {
    std::string s(v->as_string());
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    e.sensitivity = s;
  }
  if (const auto* v = body.if_contains("recurrence"); v && !v->is_null()) {
    auto r = recurrence_written(*v);
    if (auto* problem = std::get_if<std::string>(&r)) return *problem;
    e.recurrence = std::get<model::Recurrence>(std::move(r));
  }
  if (const auto* v = body.if_contains("singleValueExtendedProperties")) {
    if (!v->is_array()) return std::string("Invalid value for property 'singleValueExtendedProperties'.");
    for (const auto& p : v->as_array()) {
      if (!p.is_object()) return std::string("Invalid value for property 'singleValueExtendedProperties'.");
      auto key = extended_key_of(str(p.as_object(), "id"));
      if (!key) return "The property id '" + str(p.as_object(), "id") + "' is not valid.";
      e.extended[*key] = str(p.as_object(), "value");
    }
  }
  return std::nullopt;
}

std::optional<SysSeconds> query_time(const http::RequestTarget& t, const char* name) {
  auto it = t.query.find(name);
  return it == t.query.end() ? std::nullopt : parse_xs_datetime(it->second);
}

}  // namespace

http::Response GraphEndpoint::calendar(Mailbox& mb, const http::Request& req, const http::RequestTarget& target,
                                       const std::vector<std::string>& rest, const std::string& user_base) {
  const std::string prefer = prefer_header(req);
  const bool text_body = prefer.find("outlook.body-content-type=\"text\"") != std::string::npos;
  const bool view = (rest.size() == 2 && rest[0] == "calendarView" && rest[1] == "delta") ||
                    (rest.size() == 3 && rest[0] == "calendar" && rest[1] == "calendarView" && rest[2] == "delta");
  if (view && req.method == "GET") {
    ++stats_.operations["calendar_delta"];
    SysSeconds from{}, to{};
    std::uint64_t since = 0;
    auto token = target.query.find("$deltatoken");
    if (token == target.query.end()) token = target.query.find("$skiptoken");
    if (token != target.query.end()) {
      // window-from|window-to|sync state
      auto raw = from_b64url(token->second).value_or("");
      const auto a = raw.find('|'), b = raw.find('|', a == std::string::npos ? a : a + 1);
      std::optional<std::uint64_t> parsed;
      if (a != std::string::npos && b != std::string::npos) {
        from = SysSeconds{seconds(std::atoll(raw.substr(0, a).c_str()))};
        to = SysSeconds{seconds(std::atoll(raw.substr(a + 1, b - a - 1).c_str()))};
        parsed = tenant_.parse_sync_state(mb, "calendar", raw.substr(b + 1));
      }
      if (!parsed)
        return graph_error(410, "SyncStateNotFound",
                           "The sync state generation is not found; generation=" + std::to_string(mb.epoch) + ";");
      since = *parsed;
    } else {
      auto f = query_time(target, "startDateTime");
      auto t = query_time(target, "endDateTime");
      if (!f || !t || *t <= *f)
        return graph_error(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
      if (*t - *f >= kMaxWindow)
        return graph_error(400, "ErrorInvalidRequest",
                           "The range between the start and end dates is greater than the allowed range. Maximum number of days: 1825");
      from = *f;
      to = *t;
    }
    int page = kDefaultPageSize;
    if (auto p = prefer.find("odata.maxpagesize="); p != std::string::npos)
      page = std::clamp(std::atoi(prefer.c_str() + p + 18), 1, kMaxPageSize);
    std::uint64_t next = 0;
    bool last = true;
    json::array value;
    // A series is never split across pages: a page holds whole events, `page` of them at most.
    for (const auto& ch : tenant_.event_changes_since(mb, since, page, next, last)) {
      const SimEvent& e = *ch.item;
      if (ch.type == ChangeType::remove) {
        if (!e.recurrence) value.push_back(removed(graph_id(e.id)));
        else
          for (const auto& i : instances_of(e, from, to)) value.push_back(removed(i.id));
        continue;
      }
      if (!e.recurrence) {
        if (overlaps(e, from, to)) value.push_back(event_json(e, text_body));
        else if (since > 0) value.push_back(removed(graph_id(e.id)));
        continue;
      }
      for (const auto& i : instances_of(e, from, to)) value.push_back(instance_json(e, i, !i.exception, text_body));
      if (since > 0)
        for (const auto& d : e.deleted_occurrences)
          if (d >= from && d < to) value.push_back(removed(instance_id(e, d)));
    }
    const std::string state = std::to_string(from.time_since_epoch().count()) + "|" +
                              std::to_string(to.time_since_epoch().count()) + "|" +
                              tenant_.sync_state(mb, "calendar", next);
    json::object body{{"@odata.context", base_ + std::string(kRoot) + "/$metadata#Collection(event)"}};
    body[last ? "@odata.deltaLink" : "@odata.nextLink"] =
        user_base + "/calendar/calendarView/delta?" + (last ? "$deltatoken=" : "$skiptoken=") + b64url(state);
    body["value"] = std::move(value);
    return json_response(200, body);
  }

  // GET (list: $select, $top, $skip, $count, the tag's $filter) and POST .../calendar/events
  if (rest.size() == 2 && rest[0] == "calendar" && rest[1] == "events") {
    if (req.method == "POST") {
      ++stats_.operations["create_event"];
      json::error_code ec;
      auto body = json::parse(req.body, ec);
      if (ec || !body.is_object()) return graph_error(400, "RequestBodyRead", "Invalid JSON in the request body.");
      SimEvent e;
      e.windows_zone = "UTC";
      if (!body.as_object().contains("start") || !body.as_object().contains("end"))
        return graph_error(400, "ErrorInvalidRequest", "Your request can't be completed. An event needs a start and an end.");
      if (auto problem = apply_event(body.as_object(), e)) return graph_error(400, "RequestBodyRead", *problem);
      if (e.attendees.empty()) e.attendees = {};
      const auto& created = tenant_.add_event(mb, std::move(e));
      return json_response(201, event_json(created, text_body));
    }
    if (req.method != "GET") return graph_error(405, "Request_BadRequest", "The method is not allowed.");
    ++stats_.operations["list_events"];
    std::optional<std::pair<std::string, std::string>> tag;
    if (auto f = target.query.find("$filter"); f != target.query.end()) {
      tag = tag_filter(f->second);
      if (!tag) return graph_error(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.");
    }
    int top = kDefaultPageSize;
    if (auto t = target.query.find("$top"); t != target.query.end()) top = std::clamp(std::atoi(t->second.c_str()), 1, kMaxPageSize);
    int skip = 0;
    if (auto s = target.query.find("$skip"); s != target.query.end()) skip = std::max(0, std::atoi(s->second.c_str()));
    json::array value;
    std::int64_t count = 0;
    bool more = false;
    for (const auto& [id, e] : mb.calendar.events) {
      if (e.deleted) continue;
      if (tag) {
        auto it = e.extended.find(tag->first);
        if (it == e.extended.end() || normalize_mailbox_address(it->second) != normalize_mailbox_address(tag->second)) continue;
      }
      if (count++ < skip) continue;
      if (static_cast<int>(value.size()) >= top) {
        more = true;
        continue;
      }
      auto o = event_json(e, text_body);
      if (auto sel = target.query.find("$select"); sel != target.query.end()) {
        json::object picked{{"@odata.etag", o["@odata.etag"]}, {"id", o["id"]}};
        if (sel->second.find("changeKey") != std::string::npos) picked["changeKey"] = o["changeKey"];
        o = std::move(picked);
      }
      value.push_back(std::move(o));
    }
    json::object body{{"@odata.context", base_ + std::string(kRoot) + "/$metadata#users('" + mb.address + "')/calendar/events"}};
    if (auto c = target.query.find("$count"); c != target.query.end() && c->second == "true") body["@odata.count"] = count;
    body["value"] = std::move(value);
    if (more) {
      std::string link = user_base + "/calendar/events?$top=" + std::to_string(top) + "&$skip=" + std::to_string(skip + top);
      if (auto sel = target.query.find("$select"); sel != target.query.end()) link += "&$select=" + sel->second;
      body["@odata.nextLink"] = link;
    }
    return json_response(200, body);
  }

  // .../events/{id}[/instances]: a master or single by its id, an instance by its own.
  if ((rest.size() == 2 || rest.size() == 3) && rest[0] == "events") {
    std::string master_id = rest[1];
    std::optional<SysSeconds> original;
    if (auto at = rest[1].find(kOccurrence); at != std::string::npos) {
      master_id = rest[1].substr(0, at);
      const auto when = rest[1].substr(at + kOccurrence.size());  // 20260317T160000Z
      if (when.size() == 16)
        original = parse_xs_datetime(when.substr(0, 4) + "-" + when.substr(4, 2) + "-" + when.substr(6, 2) + "T" +
                                     when.substr(9, 2) + ":" + when.substr(11, 2) + ":" + when.substr(13, 2) + "Z");
      if (!original) return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    }
    auto ews = ews_id(master_id);
    const SimEvent* e = ews ? tenant_.find_event(mb, *ews) : nullptr;
    if (!e) return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
    if (rest.size() == 3) {
      if (rest[2] != "instances" || req.method != "GET" || original)
        return graph_error(400, "BadRequest", "Resource not found for the segment '" + rest[2] + "'.");
      ++stats_.operations["instances"];
      auto f = query_time(target, "startDateTime");
      auto t = query_time(target, "endDateTime");
      if (!f || !t || *t <= *f)
        return graph_error(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.");
      json::array value;
      if (e->recurrence)
        for (const auto& i : instances_of(*e, *f, *t)) value.push_back(instance_json(*e, i, false, text_body));
      return json_response(200, json::object{{"@odata.context", base_ + std::string(kRoot) + "/$metadata#Collection(event)"},
                                             {"value", std::move(value)}});
    }
    if (original) {
      // One instance: it exists while the pattern has it and it is not cancelled.
      std::optional<Instance> found;
      for (const auto& i : instances_of(*e, *original - days(400), *original + days(400)))
        if (i.original_start == *original) found = i;
      if (!found) return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.");
      if (req.method == "GET") {
        ++stats_.operations["get_event"];
        return json_response(200, instance_json(*e, *found, false, text_body));
      }
      if (req.method == "DELETE") {
        ++stats_.operations["delete_instance"];
        tenant_.cancel_occurrence(mb, *ews, *original);
        return {204, {}, ""};
      }
      if (req.method != "PATCH") return graph_error(405, "Request_BadRequest", "The method is not allowed.");
      ++stats_.operations["update_instance"];
      // An instance's etag is its series' change key.
      if (auto stale = stale_if_match(req, e->change_key())) return std::move(*stale);
      json::error_code ec;
      auto body = json::parse(req.body, ec);
      if (ec || !body.is_object()) return graph_error(400, "RequestBodyRead", "Invalid JSON in the request body.");
      if (body.as_object().contains("recurrence"))
        return graph_error(400, "ErrorInvalidRequest", "An occurrence has no recurrence of its own.");
      SimEvent::Exception plain;
      plain.original_start = plain.start = *original;
      plain.end = *original + (e->end - e->start);
      const SimEvent::Exception* own = &plain;
      for (const auto& m : e->modified)
        if (m.original_start == *original) own = &m;
      SimEvent changed = occurrence_item(*e, *own);
      if (auto problem = apply_event(body.as_object(), changed)) return graph_error(400, "RequestBodyRead", *problem);
      const auto* updated = tenant_.write_occurrence(mb, *ews, *original, changed);
      for (const auto& i : instances_of(*updated, *original - days(400), *original + days(400)))
        if (i.original_start == *original) return json_response(200, instance_json(*updated, i, false, text_body));
      return graph_error(500, "ErrorInternalServerError", "The occurrence was written and then not found.");
    }
    if (req.method == "GET") {
      ++stats_.operations["get_event"];
      return json_response(200, event_json(*e, text_body));
    }
    if (req.method == "DELETE") {
      ++stats_.operations["delete_event"];
      tenant_.delete_event(mb, *ews);
      return {204, {}, ""};
    }
    if (req.method == "PATCH") {
      ++stats_.operations["update_event"];
      if (auto stale = stale_if_match(req, e->change_key())) return std::move(*stale);
      json::error_code ec;
      auto body = json::parse(req.body, ec);
      if (ec || !body.is_object()) return graph_error(400, "RequestBodyRead", "Invalid JSON in the request body.");
      SimEvent changed = *e;
      if (auto problem = apply_event(body.as_object(), changed)) return graph_error(400, "RequestBodyRead", *problem);
      const auto* updated = tenant_.write_event(mb, *ews, changed);
      return json_response(200, event_json(*updated, text_body));
    }
    return graph_error(405, "Request_BadRequest", "The method is not allowed.");
  }
  return graph_error(400, "BadRequest", "Resource not found for the segment '" + rest[0] + "'.");
}

}  // namespace exsync::sim
