// How the simulator reads calendar items that clients write (CreateItem) and applies UpdateItem's
// SetItemField/DeleteItemField to them, by FieldURI, as Exchange does. Written independently of
// the daemon's own XML code.
#pragma once

#include <optional>
#include <pugixml.hpp>
#include <string>

#include "tenant.hpp"

namespace exsync::sim {

SimEvent read_written_event(const pugi::xml_node& calendar_item);

// Applies one ItemChange's Updates; returns an error text for a field it cannot apply.
std::optional<std::string> apply_event_updates(const pugi::xml_node& updates, SimEvent& event);

}  // namespace exsync::sim
