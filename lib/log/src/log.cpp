#include "exsync/log/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace exsync::log {
namespace {

std::atomic<Format> g_format{Format::logfmt};
std::atomic<Level> g_level{Level::info};
std::once_flag g_once;
std::shared_ptr<spdlog::logger> g_logger;

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// A double-quoted string with backslash escapes, valid both as a JSON string and as a quoted
// logfmt value, so that one event is always one line.
void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  for (unsigned char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}


// logfmt: bare when the value has no space, quote, '=' or control character; else quoted.
void append_logfmt_value(std::string& out, std::string_view v) {
  bool bare = !v.empty();
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) { bare = false; break; }
  }
  if (bare) out += v;
  else append_quoted(out, v);
}

std::string scalar(const Field::Value& v) {
  if (auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *d);
    return buf;
  }
  return {};
}

std::shared_ptr<spdlog::logger> make_logger() {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("exsync", sink);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

void apply_pattern(Format f) {
  // spdlog supplies the timestamp and level; the rest of the line is rendered by render_fields.
  if (f == Format::json)
    g_logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ",%v)", spdlog::pattern_time_type::utc);
  else
    g_logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
}

void ensure_logger() {
  std::call_once(g_once, [] {
    g_logger = make_logger();
    apply_pattern(g_format.load());
    g_logger->set_level(to_spdlog(g_level.load()));
  });
}

}  // namespace

std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

bool parse_level(std::string_view t, Level& out) {
  if (t == "debug") out = Level::debug;
  else if (t == "info") out = Level::info;
  else if (t == "warn") out = Level::warn;
  else if (t == "error") out = Level::error;
  else return false;
  return true;
}

bool parse_format(std::string_view t, Format& out) {
  if (t == "logfmt") out = Format::logfmt;
  else if (t == "json") out = Format::json;
  else return false;
  return true;
}

void init(Format format, Level level) {
  ensure_logger();
  g_format = format;
  g_level = level;
  apply_pattern(format);
  g_logger->set_level(to_spdlog(level));
}

std::string render_fields(Format format, Level level, std::string_view name,
                          std::initializer_list<Field> fields) {
  std::string out;
  out.reserve(128);
  if (format == Format::json) {
    out += "\"level\":\"";
    out += level_name(level);
    out += "\",\"event\":";
    append_quoted(out, name);
    for (const auto& f : fields) {
      out += ',';
      append_quoted(out, f.key);
      out += ':';
      if (auto* s = std::get_if<std::string_view>(&f.value)) append_quoted(out, *s);
      else out += scalar(f.value);
    }
    out += '}';
  } else {
    out += "level=";
    out += level_name(level);
    out += " event=";
    out += name;
    for (const auto& f : fields) {
      out += ' ';
      out += f.key;
      out += '=';
      if (auto* s = std::get_if<std::string_view>(&f.value)) append_logfmt_value(out, *s);
      else out += scalar(f.value);
    }
  }
  return out;
}

void event(Level level, std::string_view name, std::initializer_list<Field> fields) {
  ensure_logger();
  if (level < g_level.load()) return;
  g_logger->log(to_spdlog(level), render_fields(g_format.load(), level, name, fields));
}

}  // namespace exsync::log
