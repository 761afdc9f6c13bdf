// RFC 3339 / xs:dateTime conversions shared by the protocol adapters, the store and the log.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace exsync {

using SysSeconds = std::chrono::sys_seconds;

// Formats as "YYYY-MM-DDTHH:MM:SSZ".
std::string format_rfc3339_utc(SysSeconds t);

// Parses an xs:dateTime with 'Z' or a numeric offset, optional fractional seconds
// ("2020-09-10T14:15:19Z", "2013-05-19T18:00:00+02:00", "2020-09-10T14:15:19.123Z").
// A dateTime without a zone is read as UTC, as Exchange means it. Returns nullopt when malformed.
std::optional<SysSeconds> parse_xs_datetime(std::string_view text);

// "YYYY-MM-DD" for a civil date.
std::string format_date(std::chrono::year_month_day d);
std::optional<std::chrono::year_month_day> parse_date(std::string_view text);

}  // namespace exsync
