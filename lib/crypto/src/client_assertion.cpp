#include "exsync/crypto/client_assertion.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "exsync/crypto/base64.hpp"
#include "openssl_handles.hpp"

namespace exsync::crypto {
namespace {

using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX_free>>;

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// A JSON string literal; the values here are ids and URLs, but nothing is assumed.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      static const char* hex = "0123456789abcdef";
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

struct ClientCertificate::Impl {
  KeyPtr key;
  std::string thumbprint;
  std::chrono::system_clock::time_point not_after;
};

Result<ClientCertificate, CryptoError> ClientCertificate::from_pem(std::string_view certificate_pem,
                                                                   std::string_view private_key_pem) {
  auto cb = memory_bio(certificate_pem);
  CertPtr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
  if (!cert) return Fail{openssl_error("the certificate is not a PEM certificate")};
  auto kb = memory_bio(private_key_pem);
  // An empty passphrase callback: an encrypted key is refused instead of prompting on a terminal.
  KeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!key) return Fail{openssl_error("the private key is not an unencrypted PEM private key")};
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA)
    return Fail{CryptoError{"the private key is not an RSA key (Entra ID signs client assertions with RS256)"}};
  if (X509_check_private_key(cert.get(), key.get()) != 1)
    return Fail{openssl_error("the private key does not belong to the certificate")};

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &len) != 1) return Fail{openssl_error("certificate digest")};
  auto impl = std::make_shared<Impl>();
  impl->thumbprint = base64url_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &tm) != 1) return Fail{openssl_error("certificate validity")};
  impl->not_after = std::chrono::system_clock::from_time_t(timegm(&tm));
  impl->key = std::move(key);
  return ClientCertificate(std::move(impl));
}

const std::string& ClientCertificate::thumbprint() const { return impl_->thumbprint; }

std::chrono::system_clock::time_point ClientCertificate::not_after() const { return impl_->not_after; }

Result<std::string, CryptoError> ClientCertificate::assertion(std::string_view client_id, std::string_view audience,
                                                             std::chrono::system_clock::time_point now,
                                                             std::chrono::seconds lifetime) const {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return Fail{openssl_error("random jti")};
  std::string jti;
  static const char* hex = "0123456789abcdef";
  for (unsigned char b : nonce) {
    jti += hex[b >> 4];
    jti += hex[b & 15];
  }
  const auto t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::string header = R"({"alg":"RS256","typ":"JWT","x5t#S256":)" + json_string(impl_->thumbprint) + "}";
  const std::string claims = "{\"aud\":" + json_string(audience) + ",\"iss\":" + json_string(client_id) +
                             ",\"sub\":" + json_string(client_id) + ",\"jti\":" + json_string(jti) +
                             ",\"nbf\":" + std::to_string(t) + ",\"iat\":" + std::to_string(t) +
                             ",\"exp\":" + std::to_string(t + lifetime.count()) + "}";
  const std::string signing_input = base64url_encode(header) + "." + base64url_encode(claims);

  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1)
    return Fail{openssl_error("signing the client assertion")};
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1)
    return Fail{openssl_error("signing the client assertion")};
  signature.resize(size);
  return signing_input + "." + base64url_encode(signature);
}

Result<PemCertificate, CryptoError> generate_client_certificate(const std::string& common_name,
                                                                std::chrono::seconds valid_for) {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  if (!key) return Fail{openssl_error("RSA key generation")};
  CertPtr cert(X509_new());
  if (!cert) return Fail{openssl_error("X509_new")};
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_for.count()));
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return Fail{openssl_error("certificate signature")};
  BioPtr cb(BIO_new(BIO_s_mem())), kb(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(cb.get(), cert.get()) ||
      !PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    return Fail{openssl_error("PEM encoding")};
  auto read = [](BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  return PemCertificate{read(cb.get()), read(kb.get())};
}

}  // namespace exsync::crypto
