#include "exsync/crypto/sealed_secret.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "exsync/crypto/base64.hpp"

namespace exsync::crypto {
namespace {

constexpr std::size_t kKeySize = 32, kNonceSize = 12, kTagSize = 16;

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

bool is_sealed(std::string_view text) { return text.starts_with("exsync-sealed-secret "); }

Result<std::string, CryptoError> new_key_file_text() {
  std::string key(kKeySize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    return Fail{CryptoError{"no random bytes for a key"}};
  return base64_encode(key) + "\n";
}

Result<std::string, CryptoError> parse_key_file(std::string_view text) {
  auto key = base64_decode(text);
  if (!key || key->size() != kKeySize)
    return Fail{CryptoError{"is not an exsync key file (one line of Base64 holding 32 bytes)"}};
  return std::move(*key);
}

Result<std::string, CryptoError> seal(std::string_view secret, std::string_view key) {
  if (key.size() != kKeySize) return Fail{CryptoError{"the key must be 32 bytes"}};
  std::string nonce(kNonceSize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) != 1)
    return Fail{CryptoError{"no random bytes for a nonce"}};
  Ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string cipher(secret.size(), '\0'), tag(kTagSize, '\0');
  int len = 0, total = 0;
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(kSealedHeader.data()),
                        static_cast<int>(kSealedHeader.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()), &len,
                        reinterpret_cast<const unsigned char*>(secret.data()), static_cast<int>(secret.size())) != 1)
    return Fail{CryptoError{"encryption failed"}};
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(cipher.data()) + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag.data()) != 1)
    return Fail{CryptoError{"encryption failed"}};
  return std::string(kSealedHeader) + base64_encode(nonce + cipher + tag) + "\n";
}

Result<std::string, CryptoError> unseal(std::string_view sealed, std::string_view key) {
  if (!sealed.starts_with(kSealedHeader))
    return Fail{CryptoError{is_sealed(sealed) ? "was sealed by a newer exsync (unknown version)" : "is not sealed"}};
  if (key.size() != kKeySize) return Fail{CryptoError{"the key must be 32 bytes"}};
  auto raw = base64_decode(sealed.substr(kSealedHeader.size()));
  if (!raw || raw->size() < kNonceSize + kTagSize) return Fail{CryptoError{"is damaged (not a sealed secret's body)"}};
  const std::string_view all(*raw);
  const auto nonce = all.substr(0, kNonceSize);
  const auto cipher = all.substr(kNonceSize, all.size() - kNonceSize - kTagSize);
  std::string tag(all.substr(all.size() - kTagSize));
  Ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string plain(cipher.size(), '\0');
  int len = 0, total = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(kSealedHeader.data()),
                        static_cast<int>(kSealedHeader.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        reinterpret_cast<const unsigned char*>(cipher.data()), static_cast<int>(cipher.size())) != 1)
    return Fail{CryptoError{"cannot be decrypted"}};
  total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + total, &len) != 1)
    return Fail{CryptoError{"does not open with this key (a wrong key file, or the file was changed)"}};
  return plain;
}

}  // namespace exsync::crypto
