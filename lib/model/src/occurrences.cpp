#include "exsync/model/occurrences.hpp"

#include <algorithm>
#include <array>
#include <set>

#include "exsync/model/time_zone.hpp"

namespace exsync::model {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> kWeekdays = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                       "Thursday", "Friday", "Saturday"};
constexpr std::array<std::string_view, 12> kMonths = {"January", "February", "March",     "April",   "May",      "June",
                                                      "July",    "August",   "September", "October", "November", "December"};

std::optional<weekday> weekday_of(std::string_view name) {
  for (unsigned i = 0; i < kWeekdays.size(); ++i)
    if (kWeekdays[i] == name) return weekday{i};
  return std::nullopt;
}

unsigned month_of(std::string_view name) {
  for (unsigned i = 0; i < kMonths.size(); ++i)
    if (kMonths[i] == name) return i + 1;
  return 0;
}

// The day chosen by a relative pattern ("Second Tuesday", "Last Day", "First Weekday") in a month.
std::optional<sys_days> relative_day(year_month ym, const std::string& index, const std::string& day_name) {
  const sys_days first{ym / 1};
  const sys_days last{ym / std::chrono::last};
  std::vector<sys_days> candidates;
  for (auto d = first; d <= last; d += days(1)) {
    const weekday wd{d};
    const bool weekend = wd == Saturday || wd == Sunday;
    bool match = false;
    if (day_name == "Day") match = true;
    else if (day_name == "Weekday") match = !weekend;
    else if (day_name == "WeekendDay") match = weekend;
    else if (auto named = weekday_of(day_name)) match = wd == *named;
    if (match) candidates.push_back(d);
  }
  if (candidates.empty()) return std::nullopt;
  if (index == "Last") return candidates.back();
  static const std::array<std::string_view, 4> kIndex = {"First", "Second", "Third", "Fourth"};
  for (std::size_t i = 0; i < kIndex.size(); ++i)
    if (kIndex[i] == index && i < candidates.size()) return candidates[i];
  return std::nullopt;
}

// Calls `emit(local_date)` for each date of the pattern from its start, in order, until it
// returns false.
template <typename Emit>
void pattern_dates(const Recurrence& r, sys_days start, Emit&& emit) {
  const int interval = std::max(1, r.interval);
  constexpr int kMaxSteps = 100000;
  if (r.pattern == "daily") {
    for (int i = 0; i < kMaxSteps; ++i)
      if (!emit(start + days(i * interval))) return;
  } else if (r.pattern == "weekly") {
    const weekday first_day = weekday_of(r.first_day_of_week).value_or(Sunday);
    std::vector<int> offsets;  // days after the week's first day
    for (const auto& d : r.days_of_week)
      if (auto wd = weekday_of(d)) offsets.push_back(static_cast<int>((*wd - first_day).count()));
    std::sort(offsets.begin(), offsets.end());
    if (offsets.empty()) offsets.push_back(static_cast<int>((weekday{start} - first_day).count()));
    const sys_days week0 = start - (weekday{start} - first_day);
    for (int w = 0; w < kMaxSteps; w += interval) {
      for (int off : offsets) {
        const sys_days d = week0 + weeks(w) + days(off);
        if (d < start) continue;
        if (!emit(d)) return;
      }
    }
  } else if (r.pattern == "absolute_monthly" || r.pattern == "relative_monthly" || r.pattern == "absolute_yearly" ||
             r.pattern == "relative_yearly") {
    const bool yearly = r.pattern.find("yearly") != std::string::npos;
    const bool relative = r.pattern.find("relative") != std::string::npos;
    const int step = yearly ? 12 : interval;
    year_month ym = year_month_day{start}.year() / year_month_day{start}.month();
    if (yearly && month_of(r.month)) {
      ym = year_month_day{start}.year() / month(month_of(r.month));
      if (sys_days{ym / std::chrono::last} < start) ym += years(1);
    }
    for (int i = 0; i < kMaxSteps; i += step) {
      const year_month cur = ym + months(i);
      std::optional<sys_days> d;
      if (relative) {
        d = relative_day(cur, r.day_of_week_index, r.days_of_week.empty() ? "Day" : r.days_of_week.front());
      } else {
        const unsigned dom = static_cast<unsigned>(std::max(1, r.day_of_month));
        const unsigned last_dom = static_cast<unsigned>(year_month_day_last{cur / std::chrono::last}.day());
        d = sys_days{cur / day(std::min(dom, last_dom))};
      }
      if (!d || *d < start) continue;
      if (!emit(*d)) return;
    }
  }
}

// Calls `emit(original_start)` for each occurrence of the series' pattern and range, cancelled
// ones included, in order, until it returns false. `start` is the series' start.
template <typename Emit>
void pattern_instants(const Event& e, SysSeconds start, Emit&& emit) {
  const auto& r = *e.recurrence;
  // The series' wall-clock time of day, in its own zone.
  const auto local_start = parse_xs_datetime(format_in_zone(start, e.time_zone).substr(0, 19));
  if (!local_start) return;
  const auto time_of_day = *local_start - floor<days>(*local_start);
  const auto first = parse_date(r.start_date);
  const sys_days pattern_start = first ? sys_days{*first} : floor<days>(*local_start);
  const auto end_date = parse_date(r.end_date);
  int produced = 0;
  pattern_dates(r, pattern_start, [&](sys_days d) {
    if (r.range == "numbered" && produced >= r.count) return false;
    if (r.range == "end_date" && end_date && d > sys_days{*end_date}) return false;
    ++produced;
    return emit(instant_of_local(year_month_day{d}, duration_cast<seconds>(time_of_day), e.time_zone));
  });
}

}  // namespace

std::optional<PatternOccurrence> pattern_occurrence(const Event& e, const std::string& original_start) {
  const auto at = parse_xs_datetime(original_start);
  const auto start = parse_xs_datetime(e.start), end = parse_xs_datetime(e.end);
  if (!e.recurrence || !at || !start || !end || !known_zone(e.time_zone)) return std::nullopt;
  std::optional<PatternOccurrence> found;
  int index = 0;
  pattern_instants(e, *start, [&](SysSeconds original) {
    ++index;
    if (original < *at) return index < 100000;
    if (original == *at)
      found = PatternOccurrence{index, format_in_zone(original, e.time_zone), format_in_zone(original + (*end - *start), e.time_zone)};
    return false;
  });
  return found;
}

Event occurrence_event(const Event& series, const OccurrenceChange& o) {
  Event e = series;
  e.recurrence.reset();
  e.modified_occurrences.clear();
  e.deleted_occurrences.clear();
  e.start = o.start;
  e.end = o.end;
  if (o.details) {
    const auto& d = *o.details;
    e.subject = d.subject, e.location = d.location, e.body = d.body, e.attendees = d.attendees;
    e.reminder_minutes = d.reminder_minutes, e.free_busy = d.free_busy;
  }
  return e;
}

Event without_occurrences(Event series) {
  series.modified_occurrences.clear();
  series.deleted_occurrences.clear();
  return series;
}

std::vector<OccurrenceWrite> occurrence_writes(const Event& b, const Event& a) {
  std::vector<OccurrenceWrite> out;
  if (!a.recurrence) return out;
  const bool same_pattern = b.recurrence == a.recurrence && b.start == a.start && b.time_zone == a.time_zone;
  auto earlier = [&](const std::string& original) -> const OccurrenceChange* {
    if (!same_pattern) return nullptr;
    for (const auto& m : b.modified_occurrences)
      if (m.original_start == original) return &m;
    return nullptr;
  };
  const std::set<std::string> cancelled(b.deleted_occurrences.begin(), b.deleted_occurrences.end());
  for (const auto& d : a.deleted_occurrences) {
    if (same_pattern && cancelled.contains(d)) continue;
    const auto at = pattern_occurrence(a, d);
    if (!at) continue;
    OccurrenceWrite w;
    w.original_start = d;
    w.cancel = true;
    w.instance_index = at->index;
    if (const auto* m = earlier(d)) w.own_id = m->ews_id;
    out.push_back(std::move(w));
  }
  for (const auto& m : a.modified_occurrences) {
    const auto at = pattern_occurrence(a, m.original_start);
    if (!at) continue;
    const auto* old = earlier(m.original_start);
    OccurrenceChange plain{"", m.original_start, at->start, at->end, std::nullopt};
    auto was = old ? occurrence_event(b, *old) : occurrence_event(a, plain);
    auto becomes = occurrence_event(a, m);
    if (was == becomes) continue;
    OccurrenceWrite w;
    w.original_start = m.original_start;
    w.instance_index = at->index;
    if (old) w.own_id = old->ews_id;
    w.was = std::move(was);
    w.becomes = std::move(becomes);
    out.push_back(std::move(w));
  }
  return out;
}

void sort_occurrences(Event& e) {
  const auto instant = [](const std::string& s) { return parse_xs_datetime(s).value_or(SysSeconds{}); };
  std::stable_sort(e.modified_occurrences.begin(), e.modified_occurrences.end(),
                   [&](const auto& a, const auto& b) { return instant(a.original_start) < instant(b.original_start); });
  std::stable_sort(e.deleted_occurrences.begin(), e.deleted_occurrences.end(),
                   [&](const auto& a, const auto& b) { return instant(a) < instant(b); });
}

std::vector<Occurrence> expand(const Event& e, SysSeconds from, SysSeconds to, std::size_t limit) {
  std::vector<Occurrence> out;
  const auto start = parse_xs_datetime(e.start);
  const auto end = parse_xs_datetime(e.end);
  if (!start || !end || !known_zone(e.time_zone)) return out;
  const auto duration = *end - *start;
  auto overlaps = [&](SysSeconds s, SysSeconds en) { return s < to && (en > from || (en == s && s >= from)); };

  if (!e.recurrence) {
    if (overlaps(*start, *end)) out.push_back({e.start, e.end, format_rfc3339_utc(*start), "", false});
    return out;
  }
  std::set<std::string> deleted(e.deleted_occurrences.begin(), e.deleted_occurrences.end());
  std::set<std::string> modified;
  for (const auto& m : e.modified_occurrences) {
    modified.insert(m.original_start);
    const auto ms = parse_xs_datetime(m.start), me = parse_xs_datetime(m.end);
    if (ms && me && overlaps(*ms, *me)) out.push_back({m.start, m.end, m.original_start, m.ews_id, true, m.details});
  }

  pattern_instants(e, *start, [&](SysSeconds original) {
    if (original >= to) return false;  // past the window (moved occurrences were added above)
    const auto key = format_rfc3339_utc(original);
    if (!deleted.contains(key) && !modified.contains(key) && overlaps(original, original + duration))
      out.push_back({format_in_zone(original, e.time_zone), format_in_zone(original + duration, e.time_zone), key, "", false});
    return out.size() < limit;
  });
  std::sort(out.begin(), out.end(), [](const Occurrence& a, const Occurrence& b) {
    return parse_xs_datetime(a.start) < parse_xs_datetime(b.start);
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace exsync::model
