#include "exsync/remote/authorized_send.hpp"

namespace exsync::remote {

using model::RemoteError;
using model::RemoteErrorKind;

namespace {

// Each transport failure as its own kind: only lost or refused connections and timeouts are
// signs of load (the governor eases off for them); a certificate refused, a name that does not
// resolve or an answer over the size cap are not, and must not slow every mailbox down.
RemoteErrorKind kind_of(http::HttpErrorKind kind) {
  switch (kind) {
    case http::HttpErrorKind::connect:
    case http::HttpErrorKind::timeout:
    case http::HttpErrorKind::io: return RemoteErrorKind::network;
    case http::HttpErrorKind::resolve: return RemoteErrorKind::unreachable;
    case http::HttpErrorKind::tls: return RemoteErrorKind::tls;
    case http::HttpErrorKind::too_large: return RemoteErrorKind::too_large;
    case http::HttpErrorKind::protocol: return RemoteErrorKind::protocol;
    case http::HttpErrorKind::mismatched: return RemoteErrorKind::mismatched_answer;
    case http::HttpErrorKind::bad_url:
    case http::HttpErrorKind::config: return RemoteErrorKind::setup;
  }
  return RemoteErrorKind::network;
}

}  // namespace

RemoteError from_http_error(const http::HttpError& e) {
  RemoteError out{kind_of(e.kind), e.message, std::string(http::http_error_kind_name(e.kind)), {}};
  out.request_id = e.request_id;
  return out;
}

Task<Result<http::Response, RemoteError>> send_authorized(http::Client& client, auth::TokenSource& tokens,
                                                          http::Request request,
                                                          const std::function<void(const http::Response&)>& on_rejected) {
  for (int attempt = 0;; ++attempt) {
    auto token = co_await tokens.access_token();
    if (!token) {
      co_return Fail{RemoteError{RemoteErrorKind::auth,
                                 std::string(auth::auth_error_kind_name(token.error().kind)) + ": " +
                                     token.error().description,
                                 "", {}}};
    }
    http::Request req = request;
    req.headers.insert(req.headers.begin(), {"Authorization", std::string(tokens.scheme()) + " " + *token});
    auto resp = co_await client.send(std::move(req));
    if (!resp) co_return Fail{from_http_error(resp.error())};
    if (resp->status != 401 || attempt > 0) co_return std::move(*resp);
    on_rejected(*resp);
    tokens.reject(*token);
  }
}

}  // namespace exsync::remote
