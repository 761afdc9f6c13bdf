#include "exsync/crypto/certificates.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "openssl_handles.hpp"

namespace exsync::crypto {
namespace {

using ExtPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

Result<CertPtr, CryptoError> make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer,
                                       long serial, std::chrono::seconds nb,
                                       std::chrono::seconds na) {
  CertPtr cert(X509_new());
  if (!cert) return Fail{openssl_error("X509_new")};
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(nb.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(na.count()));
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : cert.get();
  if (!add_ext(cert.get(), iss, NID_subject_key_identifier, "hash"))
    return Fail{openssl_error("subjectKeyIdentifier")};
  if (!add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always"))
    return Fail{openssl_error("authorityKeyIdentifier")};
  return cert;
}

Result<KeyPtr, CryptoError> make_key() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Fail{openssl_error("EC key generation")};
  return key;
}

Result<PemCertificate, CryptoError> to_pem(X509* cert, EVP_PKEY* key) {
  BioPtr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(cb.get(), cert)) return Fail{openssl_error("PEM_write_bio_X509")};
  if (!PEM_write_bio_PrivateKey(kb.get(), key, nullptr, nullptr, 0, nullptr, nullptr))
    return Fail{openssl_error("PEM_write_bio_PrivateKey")};
  auto read = [](BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  return PemCertificate{read(cb.get()), read(kb.get())};
}

}  // namespace

Result<LocalPki, CryptoError> generate_local_pki(const std::string& ca_common_name,
                                                 const ServerIdentity& server) {
  auto ca_key = make_key();
  if (!ca_key) return Fail{ca_key.error()};
  auto ca = make_cert(ca_key->get(), ca_common_name, nullptr, 1,
                      std::chrono::seconds(-3600), std::chrono::hours(24 * 3650));
  if (!ca) return Fail{ca.error()};
  if (!add_ext(ca->get(), ca->get(), NID_basic_constraints, "critical,CA:TRUE") ||
      !add_ext(ca->get(), ca->get(), NID_key_usage, "critical,keyCertSign,cRLSign"))
    return Fail{openssl_error("CA extensions")};
  if (!X509_sign(ca->get(), ca_key->get(), EVP_sha256())) return Fail{openssl_error("CA signature")};

  auto leaf_key = make_key();
  if (!leaf_key) return Fail{leaf_key.error()};
  const std::string cn = server.dns_names.empty() ? "localhost" : server.dns_names.front();
  auto leaf = make_cert(leaf_key->get(), cn, ca->get(), 2, server.not_before,
                        server.not_after);
  if (!leaf) return Fail{leaf.error()};
  std::string san;
  for (const auto& d : server.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : server.ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  if (!add_ext(leaf->get(), ca->get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(leaf->get(), ca->get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(leaf->get(), ca->get(), NID_ext_key_usage, "serverAuth") ||
      (!san.empty() && !add_ext(leaf->get(), ca->get(), NID_subject_alt_name, san)))
    return Fail{openssl_error("server certificate extensions")};
  if (!X509_sign(leaf->get(), ca_key->get(), EVP_sha256()))
    return Fail{openssl_error("server certificate signature")};

  auto ca_pem = to_pem(ca->get(), ca_key->get());
  if (!ca_pem) return Fail{ca_pem.error()};
  auto leaf_pem = to_pem(leaf->get(), leaf_key->get());
  if (!leaf_pem) return Fail{leaf_pem.error()};
  return LocalPki{std::move(*ca_pem), std::move(*leaf_pem)};
}

}  // namespace exsync::crypto
