// Microsoft Graph's event JSON (https://learn.microsoft.com/graph/api/resources/event) to and from
// the model. Pure functions: no I/O.
//
// Graph gives a series in two parts: the master (type seriesMaster, with its recurrence) and its
// instances (occurrence, exception), each with its own id, the master's id and its original
// start. The model keeps a series as EWS does, one item with its modified and cancelled
// occurrences; join() puts the two parts together: an `exception` is a modified occurrence, and
// an occurrence of the pattern with no instance is a cancelled one. Times are read in UTC (no
// Prefer: outlook.timezone) and given in the event's own zone, its originalStartTimeZone.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/core/time_format.hpp"
#include "exsync/model/event.hpp"
#include "exsync/model/item.hpp"

namespace exsync::graph {

// One entry of a calendarView (delta or /instances): enough to tell what it belongs to.
struct EventInstance {
  std::string id;
  std::string type;              // singleInstance, occurrence, exception, seriesMaster
  std::string series_master_id;  // occurrence, exception
  std::string change_key;        // from changeKey or @odata.etag
  SysSeconds original_start{};   // occurrence, exception
  bool original_known = false;   // originalStart was given (else the start stands for it)
  SysSeconds start{}, end{};
  // An exception's own fields, when the entry carries them (not a delta's stub).
  std::optional<model::OccurrenceDetails> details;
};

// An instance entry. Errors: what is missing or malformed.
Result<EventInstance, std::string> instance_from_graph(const boost::json::object& entry);

// A single event or a series master, with its id and change key; a master's occurrences are
// added by join(). Errors: what is missing or malformed.
Result<model::RemoteItem, std::string> event_from_graph(const boost::json::object& resource);

// Sets the master's modified and cancelled occurrences from its instances in [from, to): the
// window they were listed for. Occurrences outside it are not known and not set.
void join(model::Event& master, const std::vector<EventInstance>& instances, SysSeconds from, SysSeconds to);

// The body of a create: every field of a single event, and the tag with `local_id`.
boost::json::object event_create_body(const model::Event& event, std::string_view local_id);

// The body of an update: only the fields that differ; empty when nothing does.
boost::json::object event_patch_body(const model::Event& before, const model::Event& after);

}  // namespace exsync::graph
