// What the simulator's Graph handlers share: Graph's JSON answers and error bodies, base64url,
// and the extended-property id that names exsync's tag.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "exsync/http/message.hpp"

namespace exsync::sim {

std::string b64url(std::string_view raw);
std::optional<std::string> from_b64url(std::string text);
// A JSON answer with Graph's content type and the immutable-id preference applied.
http::Response json_response(int status, const boost::json::value& body);
// Graph's error body: {"error":{"code","message","innerError":{date}}}.
http::Response graph_error(int status, std::string_view code, std::string_view message);
// Every Prefer header of the request, joined as one list (clients send several).
std::string prefer_header(const http::Request& req);
// 412 ErrorIrresolvableConflict when the request's If-Match names another version than
// `change_key` (absent and "*" match any); nullopt to go on.
std::optional<http::Response> stale_if_match(const http::Request& req, const std::string& change_key);
// The string member `key` of `o`, or "".
std::string str(const boost::json::object& o, std::string_view key);
// "String {guid} Name name" -> the key "guid/name" the tenant keeps extended properties by.
std::optional<std::string> extended_key_of(std::string_view id);
// The tag filter exsync sends, singleValueExtendedProperties/Any(ep: ep/id eq '<id>' and
// ep/value eq '<value>'), as (extended key, value); nullopt for any other filter.
std::optional<std::pair<std::string, std::string>> tag_filter(const std::string& filter);

}  // namespace exsync::sim
