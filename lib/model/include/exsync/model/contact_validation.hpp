// What a contact must satisfy before exsync writes it to a mailbox: Exchange's dictionary keys,
// text that XML 1.0 can carry, and enough to identify the person.
#pragma once

#include <optional>
#include <string>

#include "exsync/model/contact.hpp"

namespace exsync::model {

// A description of the first problem ("emails[1].key \"Email9\" is not one of EmailAddress1,
// EmailAddress2, EmailAddress3"), or nullopt when the contact can be written.
std::optional<std::string> contact_problem(const Contact& contact);

}  // namespace exsync::model
