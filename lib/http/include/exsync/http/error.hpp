// Errors of the HTTP client and server.
#pragma once

#include <string>
#include <string_view>

namespace exsync::http {

enum class HttpErrorKind {
  bad_url,     // not an https:// URL the client can use
  resolve,     // the host name does not resolve
  connect,     // TCP connection refused or unreachable
  tls,         // handshake failed: certificate not trusted, wrong host, expired, protocol
  timeout,     // no progress within the deadline
  io,          // the connection broke (reset, closed early)
  protocol,    // not valid HTTP
  too_large,   // the response exceeded the configured size cap
  config,      // the client or server could not be set up (unreadable CA file, bad key)
};

struct HttpError {
  HttpErrorKind kind;
  std::string message;
};

std::string_view http_error_kind_name(HttpErrorKind kind);

}  // namespace exsync::http
