// Why an access token could not be obtained, classified for the admin who has to fix it.
//
// Entra ID answers a failed token request with a JSON body (`error`, `error_description`,
// `error_codes`); the AADSTS code says what is wrong. Codes and their meaning:
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"

namespace exsync::auth {

enum class AuthErrorKind {
  wrong_password,          // AADSTS50126
  password_expired,        // AADSTS50055
  mfa_required,            // AADSTS50076, 50079
  consent_required,        // AADSTS65001
  public_client_disabled,  // AADSTS7000218
  wrong_client_secret,     // AADSTS7000215, 7000222 (expired): app-only access
  certificate_refused,     // AADSTS700027, 700024, 50012: app-only access with a certificate
  app_not_found,           // AADSTS700016
  tenant_not_found,        // AADSTS90002
  user_not_found,          // AADSTS50034
  account_locked,          // AADSTS50053, 50057 (disabled)
  conditional_access,      // AADSTS53003
  refresh_token_expired,   // AADSTS700082, 50173: sign in with the password again
  network,                 // the token endpoint could not be reached
  server,                  // the token endpoint failed (HTTP 5xx)
  protocol,                // an answer that is not Entra's token or error shape
  other,                   // an error code not listed above
};

struct AuthError {
  AuthErrorKind kind;
  int aadsts = 0;           // 0 when the answer had no AADSTS code
  std::string error;        // OAuth "error" ("invalid_grant")
  std::string description;  // first line of Entra's error_description, or the network error

  // One or two sentences telling the admin what to fix in the setup.
  std::string_view advice() const;
};

std::string_view auth_error_kind_name(AuthErrorKind kind);

// Classifies a non-200 answer from the token endpoint.
AuthError classify_token_error(int http_status, std::string_view body);

// A 200 answer from the token endpoint: the access token, its lifetime (3600 s when absent or
// nonsense) and the refresh token, if any. Error: protocol, when it is not Entra's JSON shape.
struct TokenResponse {
  std::string access_token;
  std::chrono::seconds expires_in{3600};
  std::string refresh_token;
};
Result<TokenResponse, AuthError> parse_token_response(std::string_view body);

}  // namespace exsync::auth
