// What the remote adapters (ews, graph) share: an HTTP client's failure as the remote port's
// error, and a request sent with the tenant's credentials, once more with a fresh token after a
// 401. The protocols differ in everything else; these two steps they take alike.
#pragma once

#include <functional>
#include <string_view>

#include "exsync/auth/token_source.hpp"
#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"
#include "exsync/http/client.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::remote {

// The remote error an HTTP failure means: its kind, the client's words, the failure's name as the
// code ("connect", "timeout", ...) and the request id the request carried.
model::RemoteError from_http_error(const http::HttpError& e);

// Sends `request` with an Authorization header from `tokens`. When the server answers 401 (the
// token expired or was revoked before its time), `on_rejected` hears of it, the token is
// rejected, and the request goes once more with a fresh one. Returns the last answer whatever its
// status (a second 401 included: the caller says what it means in its protocol), with its
// connection leased. Errors: `auth` when no token can be had; the HTTP failures.
Task<Result<http::Response, model::RemoteError>> send_authorized(
    http::Client& client, auth::TokenSource& tokens, http::Request request,
    const std::function<void(const http::Response&)>& on_rejected);

}  // namespace exsync::remote
