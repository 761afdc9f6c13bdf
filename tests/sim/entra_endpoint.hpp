// EntraEndpoint: the simulator's Microsoft Entra ID token endpoint
// (POST /{tenant}/oauth2/v2.0/token): the ROPC and refresh-token grants of a public client,
// answering errors in Entra's exact body shape (error, error_description with AADSTS code and
// trace lines, error_codes, timestamp, trace_id, correlation_id, error_uri, suberror).
#pragma once

#include <map>
#include <string>

#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

class EntraEndpoint {
 public:
  explicit EntraEndpoint(Tenant& tenant) : tenant_(tenant) {}
  // `tenant_segment` is the path segment naming the tenant.
  http::Response handle(const http::Request& request, const std::string& tenant_segment);
  int requests() const { return requests_; }
  // Token requests answered with a token, by grant type ("password", "refresh_token", ...).
  const std::map<std::string, int>& grants() const { return grants_; }
  // GET /{tenant}/v2.0/.well-known/openid-configuration: the tenant's discovery document, as
  // Entra serves it (Microsoft's auth libraries read it before their first token request), with
  // the endpoints under `base`. An unknown tenant is AADSTS90002.
  http::Response openid_configuration(const std::string& tenant_segment, const std::string& base);

  // GET /common/userrealm/{username}?api-version=1.0: whether the account is the tenant's own
  // (Managed: MSAL goes on with ROPC against the tenant) or unknown, as Entra answers it.
  http::Response user_realm(const std::string& username) const;

  // An Entra error response for `aadsts` (the codes exsync classifies); for tests and faults.
  http::Response error_response(int aadsts) const;

 private:
  int check_client_assertion(const std::string& jwt, const std::string& tenant_segment) const;

  Tenant& tenant_;
  int requests_ = 0;
  std::map<std::string, int> grants_;
};

}  // namespace exsync::sim
