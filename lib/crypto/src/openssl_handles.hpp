// OpenSSL handles owned by unique_ptr, and OpenSSL's last error as a CryptoError; private to the
// crypto module.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "exsync/crypto/certificates.hpp"

namespace exsync::crypto {

template <auto Fn>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;

// `what`, then OpenSSL's first queued error in its own words; the queue is cleared.
inline CryptoError openssl_error(std::string what) {
  if (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    what += ": ";
    what += buf;
  }
  ERR_clear_error();
  return CryptoError{std::move(what)};
}

}  // namespace exsync::crypto
