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

}  // namespace exsync::model
