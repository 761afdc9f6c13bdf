// ClientCertificate: an app registration's certificate and private key, for app-only sign-in
// with a signed client assertion (RFC 7523, a JWT) instead of a client secret.
//
// Entra ID identifies the certificate by the `x5t#S256` header (the base64url SHA-256 of its
// DER encoding), checks the RS256 signature with the public certificate uploaded to the app
// registration, and the claims: `aud` the token endpoint, `iss` and `sub` the client id, a unique
// `jti`, and `nbf`/`exp` around now.
// https://learn.microsoft.com/entra/identity-platform/certificate-credentials
// Thread-safety: a loaded ClientCertificate is immutable; assertions may be made from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/crypto/certificates.hpp"

namespace exsync::crypto {

class ClientCertificate {
 public:
  // The certificate (PEM) and its RSA private key (PEM, PKCS#8 or PKCS#1, unencrypted). Refused
  // when either does not parse, the key is not RSA, or it is not the certificate's key.
  static Result<ClientCertificate, CryptoError> from_pem(std::string_view certificate_pem,
                                                         std::string_view private_key_pem);

  // x5t#S256 of the certificate.
  const std::string& thumbprint() const;
  // When the certificate expires: Entra ID refuses it afterwards.
  std::chrono::system_clock::time_point not_after() const;

  // A compact JWT, signed RS256, valid from `now` for `lifetime`.
  Result<std::string, CryptoError> assertion(std::string_view client_id, std::string_view audience,
                                             std::chrono::system_clock::time_point now,
                                             std::chrono::seconds lifetime = std::chrono::minutes(10)) const;

  struct Impl;

 private:
  explicit ClientCertificate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// A self-signed RSA 2048 certificate and key for an app registration (what
// `openssl req -x509 -newkey rsa:2048` makes), valid from an hour ago for `valid_for`.
Result<PemCertificate, CryptoError> generate_client_certificate(const std::string& common_name,
                                                                std::chrono::seconds valid_for);

}  // namespace exsync::crypto
