#include "exsync/http/error.hpp"

namespace exsync::http {

std::string_view http_error_kind_name(HttpErrorKind kind) {
  switch (kind) {
    case HttpErrorKind::bad_url: return "bad_url";
    case HttpErrorKind::resolve: return "resolve";
    case HttpErrorKind::connect: return "connect";
    case HttpErrorKind::tls: return "tls";
    case HttpErrorKind::timeout: return "timeout";
    case HttpErrorKind::io: return "io";
    case HttpErrorKind::protocol: return "protocol";
    case HttpErrorKind::too_large: return "too_large";
    case HttpErrorKind::config: return "config";
    case HttpErrorKind::mismatched: return "mismatched";
  }
  return "unknown";
}

}  // namespace exsync::http
