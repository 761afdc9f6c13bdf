// EntraTokenSource: delegated tokens for the service account from Microsoft Entra ID, by the
// OAuth 2.0 resource-owner password credentials grant (ROPC) as a public client; or, with a
// client secret, app-only tokens by the client credentials grant.
//
// The token is cached until `refresh_margin` before it expires; then the refresh token is used
// (grant_type=refresh_token), and when Entra refuses it, the password again. Concurrent callers
// never stampede the endpoint: while one request is out, the others wait for its answer.
// Each failure is logged once as `auth.token.failed` with its AADSTS code and what to fix, and
// is answered from memory for a while (15 s for network trouble, 60 s for a refused sign-in), so
// that a wrong password is not tried once per mailbox and the account is not locked out.
// No password or token is ever logged.
// https://learn.microsoft.com/entra/identity-platform/v2-oauth-ropc
//
// Thread-safety: use from the network thread only. Lifetime: `client` and `clock` must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>

#include "exsync/auth/token_source.hpp"
#include "exsync/core/clock.hpp"
#include "exsync/crypto/client_assertion.hpp"
#include "exsync/http/client.hpp"

namespace exsync::auth {

struct RopcSettings {
  std::string token_url;  // {authority}/{tenant}/oauth2/v2.0/token
  std::string client_id;
  std::string scope;
  std::string username;
  std::string password;
  // Set for app-only access: the client credentials grant with this secret instead of ROPC
  // (scope https://outlook.office365.com/.default, application permission full_access_as_app).
  std::string client_secret;
  // Or, for app-only access with a certificate: a client assertion signed with it is sent
  // instead of the secret (a new one, valid for ten minutes, with each token request).
  std::optional<crypto::ClientCertificate> client_certificate;
  std::chrono::seconds refresh_margin{300};
};

class EntraTokenSource final : public TokenSource {
 public:
  EntraTokenSource(net::any_io_executor executor, http::Client& client, const Clock& clock, RopcSettings settings);
  ~EntraTokenSource() override;

  Task<Result<std::string, AuthError>> access_token() override;
  void reject(const std::string& token) override;

  // The password was rotated (SIGHUP): the next sign-in uses it, and a sign-in refused with the
  // old one is forgotten rather than answered from memory. The current token stays in use.
  void set_password(std::string password);

  // Number of requests sent to the token endpoint, for tests and statistics.
  int token_requests() const;
  // Sign-ins that failed (each logged as auth.token.failed), by Entra's code ("AADSTS50126"), or
  // by the failure's kind ("network", "server") when Entra gave none.
  std::map<std::string, std::uint64_t> token_failures() const;
  // Whether the last sign-in failed (until one succeeds).
  bool failing() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exsync::auth
