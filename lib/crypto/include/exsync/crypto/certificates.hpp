// Generation of a private certificate authority and a server certificate signed by it.
//
// The tenant simulator uses this to serve real, verified TLS on loopback: it writes the CA to
// ca.pem, and the daemon trusts it through [tls] ca_file, exactly as a brokerage with a private
// Exchange CA would configure it. Keys are ECDSA P-256.
// Thread-safety: free functions without shared state.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "exsync/core/result.hpp"

namespace exsync::crypto {

struct PemCertificate {
  std::string certificate;  // PEM "CERTIFICATE"
  std::string private_key;  // PEM "PRIVATE KEY" (PKCS#8)
};

struct LocalPki {
  PemCertificate ca;
  PemCertificate server;  // signed by `ca`
};

struct CryptoError {
  std::string message;  // OpenSSL's own words
};

struct ServerIdentity {
  std::vector<std::string> dns_names{"localhost"};
  std::vector<std::string> ip_addresses{"127.0.0.1", "::1"};
  // Validity window relative to now; a negative `not_after` makes an already-expired certificate.
  std::chrono::seconds not_before{-3600};
  std::chrono::seconds not_after{std::chrono::hours(24 * 365)};
};

Result<LocalPki, CryptoError> generate_local_pki(const std::string& ca_common_name,
                                                 const ServerIdentity& server);

}  // namespace exsync::crypto
