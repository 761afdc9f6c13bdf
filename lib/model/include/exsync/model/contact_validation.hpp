// What the CRM's items must satisfy before exsync writes them to a mailbox: Exchange's dictionary
// keys and enumerations, text that XML 1.0 can carry, times that exist, and enough to identify
// the person or the meeting.
#pragma once

#include <optional>
#include <string>

#include "exsync/model/contact.hpp"
#include "exsync/model/event.hpp"

namespace exsync::model {

// A description of the first problem ("emails[1].key \"Email9\" is not one of EmailAddress1,
// EmailAddress2, EmailAddress3"), or nullopt when the contact can be written.
std::optional<std::string> contact_problem(const Contact& contact);

// The same for an event; a series' recurrence must carry what its pattern and range need, and start
// on the date the event starts in its zone.
std::optional<std::string> event_problem(const Event& event);

// Valid UTF-8 without the control characters XML 1.0 cannot carry (TAB, LF, CR allowed).
bool carriable_text(std::string_view text);

}  // namespace exsync::model
