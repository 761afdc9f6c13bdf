// Reading a t:CalendarItem into the model, private to the ews module.
#pragma once

#include <pugixml.hpp>

#include "exsync/model/event.hpp"

namespace exsync::ews {

// Exchange sends instants in UTC; they are rendered in the event's own zone (StartTimeZoneId,
// a Windows id, mapped to IANA), so that an all-day event keeps its dates and a 9:00 meeting
// reads 9:00 in its zone. An unknown zone falls back to UTC.
model::Event event_from_xml(const pugi::xml_node& calendar_item);

}  // namespace exsync::ews
