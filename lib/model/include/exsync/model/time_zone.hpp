// Time zones: Exchange names them by Windows ids ("Pacific Standard Time"), the CRM and the rest
// of the world by IANA names ("America/Los_Angeles"). Conversions use the system's tz database
// (Debian's tzdata) through Howard Hinnant's date library.
// Thread-safety: free functions; the tz database is loaded once, thread-safely, on first use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "exsync/core/time_format.hpp"

namespace exsync::model {

// The IANA zone for a Windows zone id (CLDR's windowsZones mapping, territory "001"); nullopt
// for an id not in the table. "UTC" and IANA names given as such map to themselves.
std::optional<std::string> iana_from_windows(std::string_view windows_id);

// The Windows zone id Exchange uses for an IANA zone: the id whose default mapping it is, else
// the id of a zone with the same rules now ("Europe/Amsterdam" -> "W. Europe Standard Time").
// nullopt when none is found.
std::optional<std::string> windows_from_iana(std::string_view iana);

// True when the system tz database knows `iana`.
bool known_zone(std::string_view iana);

// `t` as RFC 3339 with the zone's offset at that instant ("2026-03-08T09:00:00-07:00").
// REQUIRES: known_zone(iana)
std::string format_in_zone(SysSeconds t, std::string_view iana);

// The instant when the wall clock in `iana` shows `day` at `time_of_day` (the earlier one when
// that local time occurs twice, the later side of a gap when it does not occur).
// REQUIRES: known_zone(iana)
SysSeconds instant_of_local(std::chrono::year_month_day day, std::chrono::seconds time_of_day, std::string_view iana);

// The instant of local midnight of the calendar day containing `t` in `iana`.
SysSeconds local_midnight(SysSeconds t, std::string_view iana);

}  // namespace exsync::model
