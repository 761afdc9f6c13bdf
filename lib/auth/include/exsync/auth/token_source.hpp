// TokenSource: where protocol adapters get the credentials for their requests: an Entra access
// token (Bearer), or a user name and password (Basic) for Exchange Server without modern
// authentication.
#pragma once

#include <string>
#include <string_view>

#include "exsync/auth/auth_error.hpp"
#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"

namespace exsync::auth {

class TokenSource {
 public:
  virtual ~TokenSource() = default;

  // A token valid for at least a little while. Concurrent callers share one token request.
  virtual Task<Result<std::string, AuthError>> access_token() = 0;

  // The server refused `token` (HTTP 401): forget it, so the next access_token() gets a new one.
  virtual void reject(const std::string& token) = 0;

  // The HTTP authorization scheme the token goes with.
  virtual std::string_view scheme() const { return "Bearer"; }
};

}  // namespace exsync::auth
