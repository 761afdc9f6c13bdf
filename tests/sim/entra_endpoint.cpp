#include "entra_endpoint.hpp"

#include <sstream>

#include <boost/json.hpp>
#include <map>
#include <memory>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "codec.hpp"
#include "exsync/crypto/base64.hpp"
#include "exsync/core/mailbox_address.hpp"

namespace exsync::sim {
namespace {

struct EntraErrorText {
  int status;
  const char* error;
  const char* suberror;
  const char* text;
};

// Message texts as Entra words them (reference-error-codes; ews-captures/entra).
const std::map<int, EntraErrorText> kErrors = {
    {50126, {400, "invalid_grant", "", "Error validating credentials due to invalid username or password."}},
    {50055, {400, "invalid_grant", "user_password_expired", "The password is expired."}},
    {50076, {400, "invalid_grant", "basic_action",
             "Due to a configuration change made by your administrator, or because you moved to a new location, you "
             "must use multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'."}},
    {50079, {400, "invalid_grant", "basic_action",
             "Due to a configuration change made by your administrator, or because you moved to a new location, you "
             "must enroll in multi-factor authentication to access '00000002-0000-0ff1-ce00-000000000000'."}},
    {65001, {400, "invalid_grant", "consent_required",
             "The user or administrator has not consented to use the application. Send an interactive "
             "authorization request for this user and resource."}},
    {7000218, {401, "invalid_client", "",
               "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}},
    {7000215, {401, "invalid_client", "",
               "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
               "value, not the client secret ID, for a secret added to app."}},
    {700027, {401, "invalid_client", "",
              "Client assertion failed signature validation, or the certificate used to sign it is not registered "
              "on the application."}},
    {700024, {400, "invalid_client", "", "Client assertion is not within its valid time range."}},
    {50012, {401, "invalid_client", "", "Client assertion audience claim does not match Realm issuer."}},
    {1002012, {400, "invalid_scope", "",
               "The provided value for scope is not valid. Client credential flows must have a scope value with "
               "/.default suffixed to the resource identifier (application ID URI)."}},
    {700016, {400, "unauthorized_client", "",
              "Application with identifier was not found in the directory. This can happen if the application has "
              "not been installed by the administrator of the tenant or consented to by any user in the tenant. You "
              "may have sent your authentication request to the wrong tenant."}},
    {90002, {400, "invalid_request", "",
             "Tenant not found. Check to make sure you have the correct tenant ID and are signing into the correct "
             "cloud."}},
    {50034, {400, "invalid_grant", "",
             "The user account {EUII Hidden} does not exist in the directory. To sign into this application, the "
             "account must be added to the directory."}},
    {50053, {400, "invalid_grant", "",
             "Your account is locked because you've tried to sign in too many times with an incorrect user ID or "
             "password."}},
    {50057, {400, "invalid_grant", "", "The user account is disabled."}},
    {53003, {400, "invalid_grant", "message_only",
             "Access has been blocked by Conditional Access policies. The access policy does not allow token "
             "issuance."}},
    {700082, {400, "invalid_grant", "", "The refresh token has expired due to inactivity."}},
    {50173, {400, "invalid_grant", "",
             "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might "
             "have changed or reset their password."}},
};

std::map<std::string, std::string> parse_form(std::string_view body) {
  std::map<std::string, std::string> out;
  auto decode = [](std::string_view s) { return percent_decode(s, true); };
  std::size_t start = 0;
  while (start < body.size()) {
    auto amp = body.find('&', start);
    if (amp == std::string_view::npos) amp = body.size();
    auto pair = body.substr(start, amp - start);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos) out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    start = amp + 1;
  }
  return out;
}

http::Response json_response(int status, const boost::json::object& o) {
  return {status,
          {{"Content-Type", "application/json; charset=utf-8"},
           {"Cache-Control", "no-store, no-cache"},
           {"Pragma", "no-cache"},
           {"x-ms-ests-server", "2.1.0.0 - EXSIM"}},
          boost::json::serialize(o)};
}

}  // namespace

http::Response EntraEndpoint::error_response(int aadsts) const {
  auto it = kErrors.find(aadsts);
  const EntraErrorText e = it != kErrors.end() ? it->second : EntraErrorText{400, "invalid_request", "", "Unknown error."};
  const auto now = tenant_.now();
  std::string ts = format_rfc3339_utc(now);
  ts[10] = ' ';  // Entra's "timestamp" has a space, not 'T'
  const std::string trace = "5f6e7d8c-0000-4000-8000-" + std::to_string(100000000000 + requests_);
  boost::json::object o;
  o["error"] = e.error;
  o["error_description"] = "AADSTS" + std::to_string(aadsts) + ": " + e.text + "\r\nTrace ID: " + trace +
                           "\r\nCorrelation ID: " + trace + "\r\nTimestamp: " + ts;
  o["error_codes"] = boost::json::array{aadsts};
  o["timestamp"] = ts;
  o["trace_id"] = trace;
  o["correlation_id"] = trace;
  o["error_uri"] = "https://login.microsoftonline.com/error?code=" + std::to_string(aadsts);
  if (*e.suberror) o["suberror"] = e.suberror;
  auto resp = json_response(e.status, o);
  resp.headers.push_back({"x-ms-request-id", trace});
  return resp;
}

// The AADSTS code refusing a client assertion (RFC 7523), or 0: signed RS256 by the registered
// certificate (x5t#S256), for this client and token endpoint, within its time range.
int EntraEndpoint::check_client_assertion(const std::string& jwt, const std::string& tenant_segment) const {
  const auto a = jwt.find('.');
  const auto b = a == std::string::npos ? a : jwt.find('.', a + 1);
  if (b == std::string::npos || tenant_.client_certificate.empty() || !tenant_.certificate_registered) return 700027;
  auto header = crypto::base64url_decode(std::string_view(jwt).substr(0, a));
  auto claims = crypto::base64url_decode(std::string_view(jwt).substr(a + 1, b - a - 1));
  auto signature = crypto::base64url_decode(std::string_view(jwt).substr(b + 1));
  if (!header || !claims || !signature) return 700027;
  boost::json::error_code ec;
  auto h = boost::json::parse(*header, ec);
  if (ec || !h.is_object()) return 700027;
  auto c = boost::json::parse(*claims, ec);
  if (ec || !c.is_object()) return 700027;

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(tenant_.client_certificate.data(), static_cast<int>(tenant_.client_certificate.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
  if (!cert) return 700027;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert.get(), EVP_sha256(), digest, &len);
  const auto thumbprint = crypto::base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
  auto text = [](const boost::json::value& o, const char* key) {
    auto* v = o.as_object().if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  if (text(h, "alg") != "RS256" || text(h, "x5t#S256") != thumbprint) return 700027;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  const std::string_view signed_part = std::string_view(jwt).substr(0, b);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert.get())) != 1 ||
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) != 1) {
    ERR_clear_error();
    return 700027;
  }
  const std::string token_path = "/" + tenant_segment + "/oauth2/v2.0/token";
  const auto aud = text(c, "aud");
  if (aud.size() < token_path.size() || aud.compare(aud.size() - token_path.size(), token_path.size(), token_path) != 0)
    return 50012;
  if (text(c, "iss") != tenant_.client_id() || text(c, "sub") != tenant_.client_id()) return 700027;
  auto number = [&](const char* key) {
    auto* v = c.as_object().if_contains(key);
    return v && v->is_int64() ? v->as_int64() : std::int64_t{0};
  };
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(tenant_.now().time_since_epoch()).count();
  // Entra ID allows five minutes of clock skew.
  if (number("exp") + 300 < now || number("nbf") - 300 > now) return 700024;
  return 0;
}

http::Response EntraEndpoint::user_realm(const std::string& username) const {
  const auto at = username.rfind('@');
  const auto domain = at == std::string::npos ? std::string() : username.substr(at + 1);
  const auto& account = tenant_.service_account();
  const bool ours = !domain.empty() && account.size() > domain.size() &&
                    account.compare(account.size() - domain.size(), domain.size(), domain) == 0 &&
                    account[account.size() - domain.size() - 1] == '@';
  boost::json::object o{{"ver", "1.0"}, {"account_type", ours ? "Managed" : "Unknown"}};
  if (ours) o["domain_name"] = domain;
  o["cloud_instance_name"] = "microsoftonline.com";
  o["cloud_audience_urn"] = "urn:federation:MicrosoftOnline";
  return {200, {{"Content-Type", "application/json; charset=utf-8"}, {"Cache-Control", "no-store"}}, boost::json::serialize(o)};
}

http::Response EntraEndpoint::openid_configuration(const std::string& tenant_segment, const std::string& base) {
  ++requests_;
  if (tenant_segment != tenant_.tenant_id() && tenant_segment != "organizations" && tenant_segment != "common")
    return error_response(90002);
  const std::string root = base + "/" + tenant_.tenant_id();
  boost::json::object doc{
      {"token_endpoint", root + "/oauth2/v2.0/token"},
      {"token_endpoint_auth_methods_supported", boost::json::array{"client_secret_post", "private_key_jwt", "client_secret_basic"}},
      {"jwks_uri", root + "/discovery/v2.0/keys"},
      {"response_modes_supported", boost::json::array{"query", "fragment", "form_post"}},
      {"subject_types_supported", boost::json::array{"pairwise"}},
      {"id_token_signing_alg_values_supported", boost::json::array{"RS256"}},
      {"response_types_supported", boost::json::array{"code", "id_token", "code id_token", "id_token token"}},
      {"scopes_supported", boost::json::array{"openid", "profile", "email", "offline_access"}},
      {"issuer", root + "/v2.0"},
      {"request_uri_parameter_supported", false},
      {"authorization_endpoint", root + "/oauth2/v2.0/authorize"},
      {"device_authorization_endpoint", root + "/oauth2/v2.0/devicecode"},
      {"http_logout_supported", true},
      {"frontchannel_logout_supported", true},
      {"end_session_endpoint", root + "/oauth2/v2.0/logout"},
      {"tenant_region_scope", "NA"},
      {"cloud_instance_name", "microsoftonline.com"},
      {"cloud_graph_host_name", "graph.windows.net"},
      {"msgraph_host", "graph.microsoft.com"}};
  return {200, {{"Content-Type", "application/json; charset=utf-8"}}, boost::json::serialize(doc)};
}

http::Response EntraEndpoint::handle(const http::Request& req, const std::string& tenant_segment) {
  ++requests_;
  if (req.method != "POST") return {405, {{"Allow", "POST"}}, ""};
  if (tenant_.token_fault) {
    auto& f = *tenant_.token_fault;
    const int code = f.aadsts;
    if (f.remaining > 0 && --f.remaining == 0) tenant_.token_fault.reset();
    if (code == 503) return {503, {{"Retry-After", "5"}}, "Service Unavailable"};
    return error_response(code);
  }
  if (tenant_segment != tenant_.tenant_id()) return error_response(90002);
  auto form = parse_form(req.body);
  if (form["client_id"] != tenant_.client_id()) return error_response(700016);
  const std::string grant = form["grant_type"];
  if (grant == "client_credentials") {
    // App-only: a confidential client proves itself with its secret or a client assertion signed
    // with its certificate; the scope is the resource's /.default (its application permissions).
    if (form.contains("client_assertion")) {
      if (form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        return error_response(7000218);
      if (int refused = check_client_assertion(form["client_assertion"], tenant_segment)) return error_response(refused);
    } else if (form["client_secret"] != tenant_.client_secret()) {
      return error_response(7000215);
    }
    const auto& scope = form["scope"];
    if (scope != "https://outlook.office365.com/.default" && scope != "https://graph.microsoft.com/.default")
      return error_response(1002012);
    boost::json::object o;
    o["token_type"] = "Bearer";
    o["expires_in"] = tenant_.token_lifetime.count();
    o["ext_expires_in"] = tenant_.token_lifetime.count();
    o["access_token"] = tenant_.issue_access_token(
        true, scope.find("graph.microsoft.com") != std::string::npos ? Tenant::Audience::graph : Tenant::Audience::ews);
    ++grants_[grant];
    return json_response(200, o);
  }
  // A public client (ROPC) sends no secret.
  if (form.contains("client_secret")) return error_response(7000218);
  if (grant == "password") {
    if (normalize_mailbox_address(form["username"]) != tenant_.service_account()) return error_response(50034);
    if (form["password"] != tenant_.password()) return error_response(50126);
  } else if (grant == "refresh_token") {
    if (!tenant_.refresh_token_valid(form["refresh_token"])) return error_response(700082);
  } else {
    boost::json::object o;
    o["error"] = "unsupported_grant_type";
    o["error_description"] = "AADSTS70003: The app requested an unsupported grant type '" + grant + "'.";
    o["error_codes"] = boost::json::array{70003};
    return json_response(400, o);
  }
  // The resource is the scope's: Graph's delegated permissions, or EWS's.
  const bool graph = form["scope"].find("graph.microsoft.com") != std::string::npos;
  std::string granted = "https://outlook.office365.com/EWS.AccessAsUser.All";
  if (graph) {
    granted.clear();
    std::istringstream scopes(tenant_.graph_delegated_scope);
    for (std::string s; scopes >> s;) granted += (granted.empty() ? "" : " ") + ("https://graph.microsoft.com/" + s);
  }
  boost::json::object o;
  o["token_type"] = "Bearer";
  o["scope"] = granted;
  o["expires_in"] = tenant_.token_lifetime.count();
  o["ext_expires_in"] = tenant_.token_lifetime.count();
  o["access_token"] = tenant_.issue_access_token(false, graph ? Tenant::Audience::graph : Tenant::Audience::ews);
  if (form["scope"].find("offline_access") != std::string::npos) o["refresh_token"] = tenant_.issue_refresh_token();
  ++grants_[grant];
  // With the openid scope, the service account's ID token (OpenID Connect), and with
  // client_info=1 its identifiers, which Microsoft's libraries key their account cache by.
  // Not signed with a key anyone could check: the simulator publishes no signing keys.
  const std::string oid = "5e0a6a8c-3c4b-4d7e-9a51-2f0d7c3b9e11", tid = "8f3a2b6c-1d4e-4f5a-9b7c-0e1d2c3b4a59";
  if (form["scope"].find("openid") != std::string::npos) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(tenant_.now().time_since_epoch()).count();
    const std::string issuer = "https://" + std::string(req.header("Host")) + "/" + tenant_.tenant_id() + "/v2.0";
    const boost::json::object header{{"typ", "JWT"}, {"alg", "RS256"}, {"kid", "exsync-sim"}};
    const boost::json::object claims{{"aud", tenant_.client_id()},
                                     {"iss", issuer},
                                     {"iat", now},
                                     {"nbf", now},
                                     {"exp", now + tenant_.token_lifetime.count()},
                                     {"name", "exsync service account"},
                                     {"oid", oid},
                                     {"preferred_username", tenant_.service_account()},
                                     {"sub", crypto::base64url_encode("sub:" + oid)},
                                     {"tid", tid},
                                     {"ver", "2.0"}};
    o["id_token"] = crypto::base64url_encode(boost::json::serialize(header)) + "." +
                    crypto::base64url_encode(boost::json::serialize(claims)) + "." +
                    crypto::base64url_encode("exsync-sim-unsigned");
  }
  if (form["client_info"] == "1")
    o["client_info"] = crypto::base64url_encode(boost::json::serialize(boost::json::object{{"uid", oid}, {"utid", tid}}));
  return json_response(200, o);
}

}  // namespace exsync::sim
