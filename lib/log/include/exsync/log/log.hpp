// Structured log events: one line per event, in logfmt or JSON, written to stderr (the journal
// under systemd).
//
// Every line carries `ts` (RFC 3339 UTC, milliseconds), `level` and `event`, a stable dotted name
// that monitoring scrapes (docs/LOG_EVENTS.md lists them). Other fields are key/value pairs.
// Never pass a password, token or secret as a field: nothing here can tell it apart from data.
//
// Thread-safety: every function may be called from any thread once init() has returned.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace exsync::log {

enum class Level { debug, info, warn, error };
enum class Format { logfmt, json };

// Parses "debug", "info", "warn", "error"; returns false when unknown.
bool parse_level(std::string_view text, Level& out);
bool parse_format(std::string_view text, Format& out);

// Configures the process-wide logger. May be called again (SIGHUP) to change level or format.
void init(Format format, Level level);

struct Field {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <typename I, typename = std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>>>
  Field(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
  std::string_view key;
  Value value;
};

void event(Level level, std::string_view name, std::initializer_list<Field> fields = {});

inline void debug(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::debug, name, f); }
inline void info(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::info, name, f); }
inline void warn(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::warn, name, f); }
inline void error(std::string_view name, std::initializer_list<Field> f = {}) { event(Level::error, name, f); }

std::string_view level_name(Level level);

// Renders one event as init()'s format would, without the timestamp; for tests.
std::string render_fields(Format format, Level level, std::string_view name,
                          std::initializer_list<Field> fields);

}  // namespace exsync::log
