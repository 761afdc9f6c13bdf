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
  mismatched,  // the answer names another request (its client-request-id differs): the
               // connection is out of step with its requests and was closed
};

struct HttpError {
  HttpErrorKind kind;
  std::string message;
  // The client-request-id the request carried (empty if it never got one), for the log line an
  // operator quotes to the server's support.
  std::string request_id = {};
};

std::string_view http_error_kind_name(HttpErrorKind kind);

}  // namespace exsync::http
