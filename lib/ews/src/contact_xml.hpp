// Reading a t:Contact element into the model, private to the ews module.
#pragma once

#include <pugixml.hpp>

#include "exsync/model/contact.hpp"

namespace exsync::ews {

model::Contact contact_from_xml(const pugi::xml_node& contact);

// Birthdays: Outlook stores the date the user picked as local midnight converted to UTC, so
// EWS returns e.g. 1985-04-11T22:00:00Z for 12 April entered in UTC+2, and 1985-04-12T07:00:00Z
// for the same date entered in UTC-7; Outlook 2013 and later store 11:59 instead. The nearest
// UTC midnight recovers the date the user entered for every zone from UTC-11 to UTC+11.
std::chrono::year_month_day birthday_date(SysSeconds instant);

}  // namespace exsync::ews
