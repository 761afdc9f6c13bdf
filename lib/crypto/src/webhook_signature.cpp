#include "exsync/crypto/webhook_signature.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "exsync/crypto/base64.hpp"

namespace exsync::crypto {

Result<std::string, std::string> parse_webhook_secret(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.substr(0, kPrefix.size()) == kPrefix) secret.remove_prefix(kPrefix.size());
  auto key = base64_decode(secret);
  if (!key || key->empty()) return Fail{std::string("is not a webhook secret (\"whsec_\" and Base64)")};
  if (key->size() < 24) return Fail{std::string("holds a key of fewer than 24 bytes (Standard Webhooks asks 24 to 64)")};
  return std::move(*key);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string webhook_signature(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  return "v1," + base64_encode(hmac_sha256(key, content));
}

}  // namespace exsync::crypto
