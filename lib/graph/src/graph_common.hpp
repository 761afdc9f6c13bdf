// What the Graph adapter's files share: URL and JSON helpers, the tag's filter, the etag.
#pragma once

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/remote_error.hpp"
#include "exsync/model/tag.hpp"

namespace exsync::graph::detail {

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The user a Graph URL addresses: the decoded segment after "users", lower-cased; empty if none.
inline std::string user_of(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) return {};
  auto segs = u->segments();
  for (auto it = segs.begin(); it != segs.end(); ++it) {
    if (*it == "users" && std::next(it) != segs.end()) return lower(std::string(*std::next(it)));
  }
  return {};
}

// An answer's JSON. Its values live in one arena of their own (a monotonic resource, shared by
// whatever keeps a part of it): a delta page or a $batch answer is hundreds of small strings and
// objects, and one allocation per value was most of the parse.
inline Result<boost::json::object, std::string> parse_object(std::string_view body) {
  boost::json::error_code ec;
  auto v = boost::json::parse(body, ec, boost::json::make_shared_resource<boost::json::monotonic_resource>());
  if (ec) return Fail{"the answer is not JSON: " + ec.message()};
  if (!v.is_object()) return Fail{std::string("the answer is not a JSON object")};
  return std::move(v.as_object());
}

// The string member `key` of `o`, or "".
inline std::string str(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The object member `key` of `o`, or null.
inline const boost::json::object* obj(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

// A resource's change key: its changeKey, else the one its etag carries (W/"<changeKey>").
inline std::string change_key_of(const boost::json::object& o) {
  if (auto ck = str(o, "changeKey"); !ck.empty()) return ck;
  auto etag = str(o, "@odata.etag");
  if (etag.size() > 4 && etag.rfind("W/\"", 0) == 0 && etag.back() == '"') return etag.substr(3, etag.size() - 4);
  return {};
}

// The $filter that finds what carries exsync's tag with `local_id`. (Single quotes in an OData
// string literal would be doubled; the local id is exsync's own, a UUID, with none.)
inline std::string tag_filter(const std::string& local_id) {
  return "singleValueExtendedProperties/Any(ep: ep/id eq '" + model::graph_tag_property_id() + "' and ep/value eq '" +
         local_id + "')";
}

inline std::string etag_of(const model::RemoteRef& ref) { return "W/\"" + ref.change_key + "\""; }

// A write Graph cannot make as asked: refused before anything is sent.
inline model::RemoteError not_carried(std::string what) {
  model::RemoteError e{model::RemoteErrorKind::invalid_item, std::move(what), "NotSupported", {}};
  e.answered = true;
  return e;
}

}  // namespace exsync::graph::detail
