// The simulated calendar folders: sample events and their change log.
#include <algorithm>

#include "codec.hpp"
#include "exsync/model/occurrences.hpp"
#include "exsync/model/time_zone.hpp"
#include "tenant.hpp"

namespace exsync::sim {
namespace {

using namespace std::chrono;

constexpr std::pair<const char*, const char*> kZones[] = {
    {"W. Europe Standard Time", "Europe/Berlin"},       {"AUS Eastern Standard Time", "Australia/Sydney"},
    {"India Standard Time", "Asia/Calcutta"},           {"UTC", "Etc/UTC"},
    {"Central Standard Time", "America/Chicago"},
};
constexpr const char* kSubjects[] = {"Showing: 12 Oak St", "Listing presentation", "Inspection at 4 Elm Ct",
                                     "Closing: 88 Pine Rd", "Buyer consultation", "Open house prep"};

year_month_day base_day() { return year_month_day{year(2026), March, day(2)}; }  // a Monday

}  // namespace

std::string SimEvent::change_key() const {
  return "DwAAABYAAAC" + base64_encode(id.substr(id.size() > 12 ? id.size() - 12 : 0) + ":v" + std::to_string(version));
}

void Tenant::populate_calendar(Mailbox& mb, int count) {
  auto& cal = mb.calendar;
  for (int i = 0; i < count; ++i) {
    SimEvent e;
    e.id = "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":event:" + std::to_string(cal.next_item++));
    char uid[64];
    std::snprintf(uid, sizeof uid, "040000008200E00074C5B7101A82E008%016llX", static_cast<unsigned long long>(rng_()));
    e.uid = uid;
    e.organizer = {"Agent", mb.address};
    e.subject = kSubjects[rng_() % std::size(kSubjects)];
    e.reminder_minutes = (i % 3 == 0) ? std::optional<int>() : std::optional<int>(15);
    const auto on = year_month_day{sys_days{base_day()} + days(static_cast<int>(rng_() % 40))};
    switch (i % 5) {
      case 0: {  // all day, on its date in New York
        e.all_day = true;
        e.windows_zone = "Eastern Standard Time";
        e.start = model::instant_of_local(on, seconds(0), "America/New_York");
        e.end = model::instant_of_local(year_month_day{sys_days{on} + days(1)}, seconds(0), "America/New_York");
        e.subject = "Closing day";
        e.free_busy = "Free";
        break;
      }
      case 1: {  // weekly on Tuesdays at 09:00 in Los Angeles, across the start of daylight saving
        e.windows_zone = "Pacific Standard Time";
        const year_month_day first{year(2026), March, day(3)};
        e.start = model::instant_of_local(first, hours(9), "America/Los_Angeles");
        e.end = e.start + minutes(30);
        e.subject = "Weekly pipeline review";
        model::Recurrence r;
        r.pattern = "weekly";
        r.interval = 1;
        r.days_of_week = {"Tuesday"};
        r.first_day_of_week = "Sunday";
        r.range = "numbered";
        r.start_date = format_date(first);
        r.count = 6;
        e.recurrence = r;
        // The third occurrence (17 March) moved to 11:00; the fifth (31 March) cancelled.
        const year_month_day third{year(2026), March, day(17)}, fifth{year(2026), March, day(31)};
        SimEvent::Exception moved;
        moved.id = "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":occurrence:" + std::to_string(cal.next_item++));
        moved.original_start = model::instant_of_local(third, hours(9), "America/Los_Angeles");
        moved.start = model::instant_of_local(third, hours(11), "America/Los_Angeles");
        moved.end = moved.start + minutes(30);
        e.modified.push_back(moved);
        e.deleted_occurrences.push_back(model::instant_of_local(fifth, hours(9), "America/Los_Angeles"));
        e.attendees = {{"Team Lead", "lead@contoso.onmicrosoft.com", "required", "Accept"}};
        break;
      }
      default: {
        const auto& [windows, iana] = kZones[rng_() % std::size(kZones)];
        e.windows_zone = windows;
        e.start = model::instant_of_local(on, hours(10), iana);
        e.end = e.start + hours(1);
        e.location = "Office";
        e.attendees = {{"Ann Buyer", "ann@example.com", "required", "Tentative"},
                       {"Loan Officer", "loans@example.net", "optional", "NoResponseReceived"}};
        if (rng_() % 2) e.categories = {"Showing"};
        e.body = "Bring the disclosure packet & keys <front door>.";
      }
    }
    e.created = e.last_modified = now();
    e.created_seq = e.last_seq = ++cal.seq;
    cal.by_seq[e.last_seq] = e.id;
    cal.events.emplace(e.id, std::move(e));
  }
}

const SimEvent& Tenant::add_event(Mailbox& mb, SimEvent e) {
  auto& cal = mb.calendar;
  e.id = "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":event:" + std::to_string(cal.next_item++));
  char uid[64];
  std::snprintf(uid, sizeof uid, "040000008200E00074C5B7101A82E008%016llX", static_cast<unsigned long long>(rng_()));
  e.uid = uid;
  e.organizer = {"Agent", mb.address};
  e.created = e.last_modified = now();
  e.created_seq = e.last_seq = ++cal.seq;
  cal.by_seq[e.last_seq] = e.id;
  auto [it, _] = cal.events.emplace(e.id, std::move(e));
  return it->second;
}

const SimEvent* Tenant::write_event(Mailbox& mb, const std::string& id, const SimEvent& changed) {
  auto it = mb.calendar.events.find(id);
  if (it == mb.calendar.events.end() || it->second.deleted) return nullptr;
  auto& e = it->second;
  SimEvent next = changed;
  next.id = e.id;
  next.uid = e.uid;
  next.organizer = e.organizer;
  next.created = e.created;
  next.created_seq = e.created_seq;
  next.version = e.version + 1;
  next.last_modified = std::max(now(), e.last_modified + seconds(1));
  // A new pattern (or a series moved as a whole) keeps only the changed and cancelled
  // occurrences it still has.
  if (next.recurrence && (next.recurrence != e.recurrence || next.start != e.start || next.windows_zone != e.windows_zone)) {
    const auto pattern = event_as_model(next);
    auto kept = [&](SysSeconds original) { return model::pattern_occurrence(pattern, format_rfc3339_utc(original)).has_value(); };
    std::erase_if(next.modified, [&](const SimEvent::Exception& m) { return !kept(m.original_start); });
    std::erase_if(next.deleted_occurrences, [&](SysSeconds d) { return !kept(d); });
  }
  mb.calendar.by_seq.erase(e.last_seq);
  next.last_seq = ++mb.calendar.seq;
  mb.calendar.by_seq[next.last_seq] = next.id;
  e = std::move(next);
  return &e;
}

const SimEvent* Tenant::find_event(const Mailbox& mb, const std::string& id) const {
  auto it = mb.calendar.events.find(id);
  return it == mb.calendar.events.end() || it->second.deleted ? nullptr : &it->second;
}

bool Tenant::delete_event(Mailbox& mb, const std::string& id) {
  auto it = mb.calendar.events.find(id);
  if (it == mb.calendar.events.end() || it->second.deleted) return false;
  auto& e = it->second;
  e.deleted = true;
  mb.calendar.by_seq.erase(e.last_seq);
  e.last_seq = ++mb.calendar.seq;
  mb.calendar.by_seq[e.last_seq] = e.id;
  return true;
}

SimEvent occurrence_item(const SimEvent& master, const SimEvent::Exception& m) {
  SimEvent e = master;
  e.id = m.id;
  e.exception_of = master.id;
  e.original_start = m.original_start;
  if (m.subject) e.subject = *m.subject;
  if (m.location) e.location = *m.location;
  if (m.body) e.body = *m.body;
  if (m.free_busy) e.free_busy = *m.free_busy;
  if (m.reminder_minutes) e.reminder_minutes = *m.reminder_minutes;
  e.start = m.start;
  e.end = m.end;
  e.recurrence.reset();
  e.modified.clear();
  e.deleted_occurrences.clear();
  e.extended.clear();
  return e;
}

namespace {

// The id a calendar view lists an unchanged occurrence by: its series' id with its original start.
constexpr std::string_view kAt = ":at:";

std::string plain_occurrence_id(const SimEvent& series, SysSeconds original) {
  const auto raw = base64_decode(std::string_view(series.id).substr(6)).value_or(series.id);
  return "AAMkAD" + base64_encode(raw + std::string(kAt) + std::to_string(original.time_since_epoch().count()));
}

// The series id and original start a plain occurrence id names.
std::optional<std::pair<std::string, SysSeconds>> parse_plain_occurrence_id(const std::string& id) {
  if (!id.starts_with("AAMkAD")) return std::nullopt;
  const auto raw = base64_decode(std::string_view(id).substr(6));
  if (!raw) return std::nullopt;
  const auto at = raw->rfind(kAt);
  if (at == std::string::npos) return std::nullopt;
  const auto seconds_text = raw->substr(at + kAt.size());
  if (seconds_text.empty() || seconds_text.find_first_not_of("-0123456789") != std::string::npos) return std::nullopt;
  return std::pair{"AAMkAD" + base64_encode(raw->substr(0, at)), SysSeconds{seconds(std::stoll(seconds_text))}};
}

}  // namespace

std::optional<SimEvent> occurrence_at(const SimEvent& series, SysSeconds original) {
  if (!series.recurrence) return std::nullopt;
  for (const auto& m : series.modified)
    if (m.original_start == original) return occurrence_item(series, m);
  if (std::find(series.deleted_occurrences.begin(), series.deleted_occurrences.end(), original) !=
      series.deleted_occurrences.end())
    return std::nullopt;
  if (!model::pattern_occurrence(event_as_model(series), format_rfc3339_utc(original))) return std::nullopt;
  SimEvent::Exception plain;
  plain.id = plain_occurrence_id(series, original);
  plain.original_start = plain.start = original;
  plain.end = original + (series.end - series.start);
  auto item = occurrence_item(series, plain);
  item.plain_occurrence = true;
  return item;
}

std::optional<SimEvent> Tenant::find_occurrence(const Mailbox& mb, const std::string& id) const {
  for (const auto& [_, e] : mb.calendar.events) {
    if (e.deleted) continue;
    for (const auto& m : e.modified)
      if (m.id == id) return occurrence_item(e, m);
  }
  if (auto plain = parse_plain_occurrence_id(id)) {
    const SimEvent* series = find_event(mb, plain->first);
    if (auto item = series ? occurrence_at(*series, plain->second) : std::nullopt; item && item->id == id) return item;
  }
  return std::nullopt;
}

namespace {

// The series changed: its version, modification time and place in the change log move on.
void touch(Mailbox::Calendar& cal, SimEvent& e, SysSeconds now) {
  ++e.version;
  e.last_modified = std::max(now, e.last_modified + seconds(1));
  cal.by_seq.erase(e.last_seq);
  e.last_seq = ++cal.seq;
  cal.by_seq[e.last_seq] = e.id;
}

}  // namespace

const SimEvent* Tenant::edit_occurrence(Mailbox& mb, const std::string& id, SysSeconds original,
                                        const SimEvent::Exception& change) {
  auto it = mb.calendar.events.find(id);
  if (it == mb.calendar.events.end() || it->second.deleted || !it->second.recurrence) return nullptr;
  auto& e = it->second;
  if (std::find(e.deleted_occurrences.begin(), e.deleted_occurrences.end(), original) != e.deleted_occurrences.end())
    return nullptr;
  auto m = std::find_if(e.modified.begin(), e.modified.end(), [&](const auto& x) { return x.original_start == original; });
  if (m == e.modified.end()) {
    // Only an occurrence the pattern has can be edited.
    bool exists = false;
    for (const auto& o : model::expand(event_as_model(e), original - days(1), original + days(1)))
      exists |= parse_xs_datetime(o.original_start) == original;
    if (!exists) return nullptr;
    SimEvent::Exception fresh;
    fresh.id = "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":occurrence:" + std::to_string(mb.calendar.next_item++));
    fresh.original_start = original;
    fresh.start = original;
    fresh.end = original + (e.end - e.start);
    e.modified.push_back(fresh);
    m = std::prev(e.modified.end());
  }
  if (change.subject) m->subject = change.subject;
  if (change.location) m->location = change.location;
  if (change.body) m->body = change.body;
  if (change.free_busy) m->free_busy = change.free_busy;
  if (change.reminder_minutes) m->reminder_minutes = change.reminder_minutes;
  if (change.start != SysSeconds{}) m->start = change.start;
  if (change.end != SysSeconds{}) m->end = change.end;
  touch(mb.calendar, e, now());
  return &e;
}

const SimEvent* Tenant::write_occurrence(Mailbox& mb, const std::string& id, SysSeconds original,
                                         const SimEvent& changed) {
  const auto* series = find_event(mb, id);
  if (!series) return nullptr;
  SimEvent::Exception change;
  auto own = [](const auto& mine, const auto& series_value) {
    using T = std::decay_t<decltype(mine)>;
    return mine == series_value ? std::optional<T>() : std::optional<T>(std::in_place, mine);
  };
  change.subject = own(changed.subject, series->subject);
  change.location = own(changed.location, series->location);
  change.body = own(changed.body, series->body);
  change.free_busy = own(changed.free_busy, series->free_busy);
  change.reminder_minutes = own(changed.reminder_minutes, series->reminder_minutes);
  change.start = changed.start;
  change.end = changed.end;
  // edit_occurrence() keeps what a change leaves unset; a client's write sets every field.
  auto& e = mb.calendar.events.at(id);
  for (auto& m : e.modified)
    if (m.original_start == original) m.subject = m.location = m.body = m.free_busy = std::nullopt, m.reminder_minutes.reset();
  return edit_occurrence(mb, id, original, change);
}

std::optional<std::pair<std::string, SysSeconds>> Tenant::occurrence_of(const Mailbox& mb,
                                                                        const std::string& occurrence_id) const {
  if (auto item = find_occurrence(mb, occurrence_id)) return std::pair{item->exception_of, item->original_start};
  return std::nullopt;
}

std::optional<SysSeconds> occurrence_at_index(const SimEvent& series, int index) {
  if (!series.recurrence || index < 1) return std::nullopt;
  auto plain = event_as_model(series);
  plain.modified_occurrences.clear();
  plain.deleted_occurrences.clear();
  const auto all = model::expand(plain, series.start - days(1), series.start + days(366 * 30), static_cast<std::size_t>(index));
  if (all.size() < static_cast<std::size_t>(index)) return std::nullopt;
  return parse_xs_datetime(all[static_cast<std::size_t>(index) - 1].original_start);
}

const SimEvent* Tenant::cancel_occurrence(Mailbox& mb, const std::string& id, SysSeconds original) {
  auto it = mb.calendar.events.find(id);
  if (it == mb.calendar.events.end() || it->second.deleted || !it->second.recurrence) return nullptr;
  auto& e = it->second;
  bool exists = false;
  for (const auto& o : model::expand(event_as_model(e), original - days(400), original + days(400)))
    exists |= parse_xs_datetime(o.original_start) == original;
  if (!exists) return nullptr;
  std::erase_if(e.modified, [&](const auto& x) { return x.original_start == original; });
  e.deleted_occurrences.push_back(original);
  std::sort(e.deleted_occurrences.begin(), e.deleted_occurrences.end());
  touch(mb.calendar, e, now());
  return &e;
}

const SimEvent* Tenant::edit_event(Mailbox& mb, const std::string& id, const std::string& subject,
                                   const std::string& location) {
  auto it = mb.calendar.events.find(id);
  if (it == mb.calendar.events.end() || it->second.deleted) return nullptr;
  auto& e = it->second;
  if (!subject.empty()) e.subject = subject;
  e.location = location;
  ++e.version;
  e.last_modified = std::max(now(), e.last_modified + seconds(1));
  mb.calendar.by_seq.erase(e.last_seq);
  e.last_seq = ++mb.calendar.seq;
  mb.calendar.by_seq[e.last_seq] = e.id;
  return &e;
}

}  // namespace exsync::sim

namespace exsync::sim {

model::Event event_as_model(const SimEvent& s) {
  model::Event e;
  const std::string zone = model::iana_from_windows(s.windows_zone).value_or("Etc/UTC");
  e.uid = s.uid;
  e.subject = s.subject;
  e.location = s.location;
  e.body = s.body;
  e.time_zone = zone;
  e.start = model::format_in_zone(s.start, zone);
  e.end = model::format_in_zone(s.end, zone);
  e.all_day = s.all_day;
  e.organizer = s.organizer;
  e.attendees = s.attendees;
  e.categories = s.categories;
  e.reminder_minutes = s.reminder_minutes;
  e.free_busy = s.free_busy;
  e.sensitivity = s.sensitivity;
  e.is_cancelled = s.cancelled;
  e.recurrence = s.recurrence;
  for (const auto& m : s.modified) {
    const auto own = occurrence_item(s, m);
    e.modified_occurrences.push_back({m.id, format_rfc3339_utc(m.original_start), model::format_in_zone(m.start, zone),
                                      model::format_in_zone(m.end, zone),
                                      model::OccurrenceDetails{own.subject, own.location, own.body, zone, own.attendees,
                                                               own.reminder_minutes, own.free_busy}});
  }
  for (const auto& d : s.deleted_occurrences) e.deleted_occurrences.push_back(format_rfc3339_utc(d));
  model::sort_occurrences(e);
  e.last_modified = s.last_modified;
  return e;
}

}  // namespace exsync::sim
