// Expansion of an event into the occurrences that fall in a window: "what is on the agent's
// calendar between A and B".
//
// A series is expanded in its own time zone, so a weekly 09:00 meeting stays at 09:00 local time
// across a daylight-saving change. Exchange's exceptions are applied as Exchange reports them:
// a deleted occurrence (by original start) is left out, a modified one appears where it was
// moved to, whatever window its original start was in.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "exsync/core/time_format.hpp"
#include "exsync/model/event.hpp"

namespace exsync::model {

struct Occurrence {
  std::string start;           // RFC 3339 in the event's zone
  std::string end;
  std::string original_start;  // RFC 3339 UTC; for a single event, its start
  std::string ews_id;          // a modified occurrence's own id; empty otherwise
  bool modified = false;
  // A modified occurrence's own fields, when they were read (else the series' stand for them).
  std::optional<OccurrenceDetails> details = std::nullopt;
};

// The occurrences overlapping [from, to), in start order. An event whose times cannot be read
// yields none. At most `limit` are returned.
std::vector<Occurrence> expand(const Event& event, SysSeconds from, SysSeconds to, std::size_t limit = 10000);

// Where the series' pattern puts the occurrence originally at `original_start` (RFC 3339, any
// offset): its place in the pattern counted from 1, cancelled occurrences included (EWS's
// InstanceIndex), and its times before any change. nullopt when the pattern has none there.
struct PatternOccurrence {
  int index = 0;
  std::string start;  // RFC 3339 in the series' zone
  std::string end;
};
std::optional<PatternOccurrence> pattern_occurrence(const Event& series, const std::string& original_start);

// One occurrence as a single event: the series' fields, overridden by the occurrence's own
// details when it has them, at the occurrence's times; no recurrence.
Event occurrence_event(const Event& series, const OccurrenceChange& occurrence);

// The series as its pattern alone has it: no changed or cancelled occurrence.
Event without_occurrences(Event series);

// What the CRM changed in a series' occurrences between `before` and `after`, each to be written
// to the occurrence alone: one newly cancelled, or one moved or changed.
struct OccurrenceWrite {
  std::string original_start;  // RFC 3339 UTC
  bool cancel = false;
  // Its own item's id in `before` (an occurrence changed earlier), when the series' pattern kept
  // it; empty for an occurrence still as the pattern has it, or when the pattern changed.
  std::string own_id;
  int instance_index = 0;  // its place in after's pattern (pattern_occurrence)
  Event was, becomes;      // a change: the occurrence as a single event, before and after
};
std::vector<OccurrenceWrite> occurrence_writes(const Event& before, const Event& after);

}  // namespace exsync::model
