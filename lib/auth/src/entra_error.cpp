#include "exsync/auth/auth_error.hpp"

#include <boost/json.hpp>
#include <algorithm>
#include <cstdlib>

namespace exsync::auth {
namespace json = boost::json;

std::string_view AuthError::advice() const {
  switch (kind) {
    case AuthErrorKind::wrong_password:
      return "The service account's password is wrong. Put its current password in the file named by "
             "[service_account] password_file.";
    case AuthErrorKind::password_expired:
      return "The service account's password has expired. Set a new password, set the account's password "
             "to never expire as the setup guide says, and update [service_account] password_file.";
    case AuthErrorKind::mfa_required:
      return "Multi-factor authentication is required for the service account, which a daemon cannot "
             "answer. Exclude the service account from MFA and conditional access policies.";
    case AuthErrorKind::consent_required:
      return "Admin consent has not been granted. In the app registration, under API permissions, grant "
             "admin consent for the delegated EWS.AccessAsUser.All permission.";
    case AuthErrorKind::public_client_disabled:
      return "The app registration does not allow public client flows. Under Authentication, set "
             "\"Allow public client flows\" to Yes.";
    case AuthErrorKind::wrong_client_secret:
      return "The application's client secret is wrong or has expired. Create a new secret under "
             "Certificates & secrets in the app registration and put it in [tenant] client_secret_file.";
    case AuthErrorKind::certificate_refused:
      return "Entra ID refused the client certificate. Upload [tenant] certificate_file's certificate under "
             "Certificates & secrets in the app registration (private_key_file must be its key), check that it "
             "has not expired, and that this server's clock is right.";
    case AuthErrorKind::app_not_found:
      return "No application with this client id exists in the tenant. Check [tenant] client_id (the "
             "Application (client) ID) and [tenant] tenant_id.";
    case AuthErrorKind::tenant_not_found:
      return "The tenant was not found. Check [tenant] tenant_id (the Directory (tenant) ID or a verified "
             "domain).";
    case AuthErrorKind::user_not_found:
      return "The service account does not exist in this tenant. Check [service_account] username.";
    case AuthErrorKind::account_locked:
      return "The service account is locked or disabled. Unlock or enable it in the Microsoft Entra admin "
             "center.";
    case AuthErrorKind::conditional_access:
      return "A conditional access policy blocks the service account. Exclude it from the policy or allow "
             "this server's network location.";
    case AuthErrorKind::refresh_token_expired:
      return "The refresh token expired or was revoked; exsync signs in with the password again.";
    case AuthErrorKind::network:
      return "The token endpoint could not be reached. Check DNS, the firewall and any proxy between this "
             "server and [tenant] authority.";
    case AuthErrorKind::server:
      return "The token endpoint failed; exsync will try again.";
    case AuthErrorKind::protocol:
      return "The token endpoint's answer was not understood. Check that [tenant] authority points at "
             "Microsoft Entra ID.";
    case AuthErrorKind::other:
      return "Entra ID refused the sign-in; the AADSTS code and description say why.";
  }
  return "";
}

std::string_view auth_error_kind_name(AuthErrorKind kind) {
  switch (kind) {
    case AuthErrorKind::wrong_password: return "wrong_password";
    case AuthErrorKind::password_expired: return "password_expired";
    case AuthErrorKind::mfa_required: return "mfa_required";
    case AuthErrorKind::consent_required: return "consent_required";
    case AuthErrorKind::public_client_disabled: return "public_client_disabled";
    case AuthErrorKind::wrong_client_secret: return "wrong_client_secret";
    case AuthErrorKind::certificate_refused: return "certificate_refused";
    case AuthErrorKind::app_not_found: return "app_not_found";
    case AuthErrorKind::tenant_not_found: return "tenant_not_found";
    case AuthErrorKind::user_not_found: return "user_not_found";
    case AuthErrorKind::account_locked: return "account_locked";
    case AuthErrorKind::conditional_access: return "conditional_access";
    case AuthErrorKind::refresh_token_expired: return "refresh_token_expired";
    case AuthErrorKind::network: return "network";
    case AuthErrorKind::server: return "server";
    case AuthErrorKind::protocol: return "protocol";
    case AuthErrorKind::other: return "other";
  }
  return "other";
}

namespace {

AuthErrorKind kind_for_code(int code) {
  switch (code) {
    case 50126: return AuthErrorKind::wrong_password;
    case 50055: return AuthErrorKind::password_expired;
    case 50076:
    case 50079: return AuthErrorKind::mfa_required;
    case 65001: return AuthErrorKind::consent_required;
    case 7000218: return AuthErrorKind::public_client_disabled;
    case 7000215:
    case 7000222: return AuthErrorKind::wrong_client_secret;
    case 700027:
    case 700024:
    case 50012: return AuthErrorKind::certificate_refused;
    case 700016: return AuthErrorKind::app_not_found;
    case 90002: return AuthErrorKind::tenant_not_found;
    case 50034: return AuthErrorKind::user_not_found;
    case 50053:
    case 50057: return AuthErrorKind::account_locked;
    case 53003: return AuthErrorKind::conditional_access;
    case 700082:
    case 50173: return AuthErrorKind::refresh_token_expired;
    default: return AuthErrorKind::other;
  }
}

// "AADSTS50126: Error validating credentials...\r\nTrace ID: ..." -> 50126
int code_from_description(std::string_view d) {
  auto pos = d.find("AADSTS");
  if (pos == std::string_view::npos) return 0;
  return std::atoi(std::string(d.substr(pos + 6, 10)).c_str());
}

}  // namespace

AuthError classify_token_error(int status, std::string_view body) {
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    AuthError e{status >= 500 ? AuthErrorKind::server : AuthErrorKind::protocol, 0, "", ""};
    e.description = "HTTP " + std::to_string(status) + " without an OAuth error body";
    return e;
  }
  const auto& o = v.as_object();
  AuthError e{AuthErrorKind::other, 0, "", ""};
  if (auto* s = o.if_contains("error"); s && s->is_string()) e.error = s->as_string();
  if (auto* s = o.if_contains("error_description"); s && s->is_string()) {
    std::string_view d = s->as_string();
    e.description = std::string(d.substr(0, d.find_first_of("\r\n")));
    e.aadsts = code_from_description(d);
  }
  if (auto* codes = o.if_contains("error_codes"); codes && codes->is_array() && !codes->as_array().empty()) {
    const auto& first = codes->as_array().front();
    if (first.is_int64()) e.aadsts = static_cast<int>(first.as_int64());
  }
  e.kind = kind_for_code(e.aadsts);
  if (e.kind == AuthErrorKind::other && e.aadsts == 0) {
    if (status >= 500) e.kind = AuthErrorKind::server;
    else if (e.error.empty()) e.kind = AuthErrorKind::protocol;
  }
  if (e.description.empty()) e.description = e.error.empty() ? "HTTP " + std::to_string(status) : e.error;
  return e;
}

namespace {

std::int64_t number_field(const json::object& o, std::string_view key) {
  // v2 sends numbers, the v1 endpoint sends them as strings.
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_string()) return std::atoll(std::string(v->as_string()).c_str());
  return 0;
}

}  // namespace

Result<TokenResponse, AuthError> parse_token_response(std::string_view body) {
  json::error_code ec;
  auto v = json::parse(body, ec);
  const json::object* o = (!ec && v.is_object()) ? &v.as_object() : nullptr;
  const json::value* access = o ? o->if_contains("access_token") : nullptr;
  if (!access || !access->is_string() || access->as_string().empty())
    return Fail{AuthError{AuthErrorKind::protocol, 0, "", "token response without access_token"}};
  TokenResponse r;
  r.access_token = std::string(access->as_string());
  const auto lifetime = number_field(*o, "expires_in");
  // At most a day: a nonsense figure must not keep a dead token for years.
  if (lifetime > 0) r.expires_in = std::chrono::seconds(std::min<std::int64_t>(lifetime, 86400));
  if (auto* rt = o->if_contains("refresh_token"); rt && rt->is_string()) r.refresh_token = std::string(rt->as_string());
  return r;
}

}  // namespace exsync::auth
