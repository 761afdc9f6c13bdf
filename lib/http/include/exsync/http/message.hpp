// Plain HTTP messages, free of Beast types, so that callers of the client and server need not
// compile Beast.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exsync::http {

struct Header {
  std::string name;
  std::string value;
};

// Case-insensitive lookup of the first header named `name`; empty when absent.
std::string_view find_header(const std::vector<Header>& headers, std::string_view name);

struct Request {
  std::string method = "POST";
  std::string url;     // client: absolute https:// URL; server: the request target ("/path?query")
  std::vector<Header> headers;
  std::string body;
  // Client: whether the request may be sent again when a reused connection fails after it was
  // sent but before any answer arrived (a read, or a token request: yes; a write: no, the server
  // may have carried it out, and the caller must find out instead).
  bool retry_safe = false;
  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

// A request target ("/v1/mailboxes/a%40b.com/contacts?limit=10") split into percent-decoded path
// segments and query parameters; nullopt when it is not a valid origin-form target.
struct RequestTarget {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
};
std::optional<RequestTarget> parse_request_target(std::string_view target);

// Compares in time independent of where the strings differ (for bearer tokens).
bool constant_time_equal(std::string_view a, std::string_view b);

// application/x-www-form-urlencoded encoding of one value (RFC 3986 unreserved kept as is).
std::string form_encode(std::string_view value);

}  // namespace exsync::http
