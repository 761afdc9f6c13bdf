// Mapping of Asio/Beast/OpenSSL error codes to HttpError, private to the http module.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

#include "exsync/http/error.hpp"

namespace exsync::http {

inline HttpError classify_stream_error(const boost::system::error_code& ec, const std::string& what,
                                       HttpErrorKind fallback) {
  namespace beast = boost::beast;
  std::string msg = what + ": " + ec.message();
  if (ec == beast::error::timeout) return {HttpErrorKind::timeout, what + ": timed out"};
  if (ec == beast::http::error::body_limit || ec == beast::http::error::header_limit ||
      ec == beast::http::error::buffer_overflow)
    return {HttpErrorKind::too_large, what + ": response exceeds the size limit"};
  if (ec == beast::http::error::end_of_stream || ec == beast::http::error::partial_message)
    return {HttpErrorKind::io, what + ": the connection closed before the message was complete"};
  if (ec.category() == make_error_code(beast::http::error::bad_version).category())
    return {HttpErrorKind::protocol, msg};
  if (ec == boost::asio::ssl::error::stream_truncated || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset || ec == boost::asio::error::operation_aborted ||
      ec == boost::asio::error::broken_pipe)
    return {HttpErrorKind::io, msg};
  if (ec == boost::asio::error::connection_refused || ec == boost::asio::error::host_unreachable ||
      ec == boost::asio::error::network_unreachable)
    return {HttpErrorKind::connect, msg};
  if (ec.category() == boost::asio::error::get_ssl_category()) return {HttpErrorKind::tls, msg};
  return {fallback, msg};
}

}  // namespace exsync::http
