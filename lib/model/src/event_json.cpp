#include "exsync/model/event_json.hpp"

#include "json_fields.hpp"

namespace exsync::model {

namespace {

json::array attendees_json(const std::vector<Attendee>& attendees) {
  json::array a;
  for (const auto& x : attendees) {
    json::object at;
    put(at, "name", x.name);
    put(at, "address", x.address);
    put(at, "type", x.type);
    put(at, "response", x.response);
    a.push_back(std::move(at));
  }
  return a;
}

std::vector<Attendee> attendees_of(const Reader& r) {
  std::vector<Attendee> out;
  r.objects("attendees", [&](const Reader& a) { out.push_back({a.str("name"), a.str("address"), a.str("type"), a.str("response")}); });
  return out;
}

}  // namespace

std::string event_to_json(const Event& e, const std::optional<ItemIdentity>& identity) {
  // Built on one arena and thrown away whole: no allocation per member.
  unsigned char arena[8192];
  json::monotonic_resource mr(arena, sizeof arena);
  json::object o(&mr);
  put_identity(o, identity);
  put(o, "uid", e.uid);
  put(o, "subject", e.subject);
  put(o, "location", e.location);
  put(o, "body", e.body);
  put(o, "start", e.start);
  put(o, "end", e.end);
  put(o, "time_zone", e.time_zone);
  o["all_day"] = e.all_day;
  if (!e.organizer.address.empty() || !e.organizer.name.empty()) {
    json::object org(o.storage());
    put(org, "name", e.organizer.name);
    put(org, "address", e.organizer.address);
    o["organizer"] = std::move(org);
  }
  if (!e.attendees.empty()) o["attendees"] = attendees_json(e.attendees);
  if (!e.categories.empty()) o["categories"] = strings(e.categories);
  if (e.reminder_minutes) o["reminder_minutes"] = *e.reminder_minutes;
  put(o, "free_busy", e.free_busy);
  put(o, "sensitivity", e.sensitivity);
  o["is_cancelled"] = e.is_cancelled;
  if (e.recurrence) {
    const auto& r = *e.recurrence;
    json::object rec(o.storage());
    put(rec, "pattern", r.pattern);
    rec["interval"] = r.interval;
    if (!r.days_of_week.empty()) rec["days_of_week"] = strings(r.days_of_week);
    put(rec, "first_day_of_week", r.first_day_of_week);
    if (r.day_of_month) rec["day_of_month"] = r.day_of_month;
    put(rec, "day_of_week_index", r.day_of_week_index);
    put(rec, "month", r.month);
    put(rec, "range", r.range);
    put(rec, "start_date", r.start_date);
    put(rec, "end_date", r.end_date);
    if (r.count) rec["count"] = r.count;
    o["recurrence"] = std::move(rec);
  }
  if (!e.modified_occurrences.empty()) {
    json::array a(o.storage());
    for (const auto& m : e.modified_occurrences) {
      json::object x(o.storage());
      put(x, "ews_id", m.ews_id);
      put(x, "original_start", m.original_start);
      put(x, "start", m.start);
      put(x, "end", m.end);
      if (const auto& d = m.details) {
        // "subject" is written even when empty: its presence says the details were read.
        x["subject"] = d->subject;
        put(x, "location", d->location);
        put(x, "body", d->body);
        put(x, "time_zone", d->time_zone);
        if (!d->attendees.empty()) x["attendees"] = attendees_json(d->attendees);
        if (d->reminder_minutes) x["reminder_minutes"] = *d->reminder_minutes;
        put(x, "free_busy", d->free_busy);
      }
      a.push_back(std::move(x));
    }
    o["modified_occurrences"] = std::move(a);
  }
  if (!e.deleted_occurrences.empty()) o["deleted_occurrences"] = strings(e.deleted_occurrences);
  if (e.last_modified) o["last_modified"] = format_rfc3339_utc(*e.last_modified);
  return json::serialize(o);
}

Result<Event, std::string> event_from_json(std::string_view text) {
  auto v = parse_object(text);
  if (!v) return Fail{v.error()};
  std::string err;
  const Reader r{v->as_object(), err};
  Event e;
  e.uid = r.str("uid");
  e.subject = r.str("subject");
  e.location = r.str("location");
  e.body = r.str("body");
  e.start = r.str("start");
  e.end = r.str("end");
  e.time_zone = r.str("time_zone");
  e.all_day = r.boolean("all_day");
  if (auto o = r.object("organizer")) e.organizer = {o->str("name"), o->str("address")};
  e.attendees = attendees_of(r);
  e.categories = r.list("categories");
  e.reminder_minutes = r.integer("reminder_minutes");
  e.free_busy = r.str("free_busy");
  e.sensitivity = r.str("sensitivity");
  e.is_cancelled = r.boolean("is_cancelled");
  if (auto rec = r.object("recurrence")) {
    const Reader& x = *rec;
    Recurrence rc;
    rc.pattern = x.str("pattern");
    rc.interval = x.integer("interval").value_or(1);
    rc.days_of_week = x.list("days_of_week");
    rc.first_day_of_week = x.str("first_day_of_week");
    rc.day_of_month = x.integer("day_of_month").value_or(0);
    rc.day_of_week_index = x.str("day_of_week_index");
    rc.month = x.str("month");
    rc.range = x.str("range");
    rc.start_date = x.str("start_date");
    rc.end_date = x.str("end_date");
    rc.count = x.integer("count").value_or(0);
    e.recurrence = std::move(rc);
  }
  r.objects("modified_occurrences", [&](const Reader& m) {
    OccurrenceChange change{m.str("ews_id"), m.str("original_start"), m.str("start"), m.str("end"), std::nullopt};
    if (m.o.contains("subject"))
      change.details = OccurrenceDetails{m.str("subject"), m.str("location"), m.str("body"), m.str("time_zone"),
                                         attendees_of(m), m.integer("reminder_minutes"), m.str("free_busy")};
    e.modified_occurrences.push_back(std::move(change));
  });
  e.deleted_occurrences = r.list("deleted_occurrences");
  if (auto lm = r.str("last_modified"); !lm.empty()) e.last_modified = parse_xs_datetime(lm);
  if (!err.empty()) return Fail{err};
  return e;
}

namespace {
constexpr Member kPersonMembers[] = {{"name"}, {"address"}};
constexpr Member kAttendeeMembers[] = {{"name"}, {"address"}, {"type"}, {"response"}};
constexpr Member kRecurrenceMembers[] = {{"pattern"},    {"interval"},   {"days_of_week"}, {"first_day_of_week"},
                                         {"day_of_month"}, {"day_of_week_index"}, {"month"}, {"range"},
                                         {"start_date"}, {"end_date"},   {"count"}};
constexpr Member kOccurrenceMembers[] = {{"ews_id"},   {"original_start"}, {"start"},
                                         {"end"},      {"subject"},        {"location"},
                                         {"body"},     {"time_zone"},      {"attendees", kAttendeeMembers},
                                         {"reminder_minutes"}, {"free_busy"}};
constexpr Member kEventMembers[] = {
    {"uid"},        {"subject"},   {"location"},          {"body"},
    {"start"},      {"end"},       {"time_zone"},         {"all_day"},
    {"organizer", kPersonMembers}, {"attendees", kAttendeeMembers}, {"categories"},
    {"reminder_minutes"},          {"free_busy"},         {"sensitivity"},
    {"is_cancelled"},              {"recurrence", kRecurrenceMembers},
    {"modified_occurrences", kOccurrenceMembers},          {"deleted_occurrences"}};
}  // namespace

std::optional<std::string> event_unknown_field(std::string_view text) {
  auto v = parse_object(text);
  if (!v) return std::nullopt;  // the parser says what is wrong
  return unknown_member(v->as_object(), kEventMembers);
}

}  // namespace exsync::model
