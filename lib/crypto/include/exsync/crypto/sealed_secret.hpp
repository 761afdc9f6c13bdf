// Sealed secrets: the service account's password (or any secret) encrypted with a key file, so
// that it is never stored in clear where that can be avoided.
//
// Format, version 1: the line "exsync-sealed-secret v1", then one line of Base64 holding a
// 12-byte random nonce, the ciphertext and the 16-byte GCM tag. The cipher is AES-256-GCM (OpenSSL)
// with the header line as additional authenticated data, so that a changed byte anywhere, a
// wrong key or another version is refused, never decrypted into garbage.
// A key file holds 32 random bytes as one line of Base64.
// Thread-safety: free functions without shared state.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/crypto/certificates.hpp"

namespace exsync::crypto {

inline constexpr std::string_view kSealedHeader = "exsync-sealed-secret v1\n";

// Whether `text` is a sealed secret (of any version this or a later exsync writes).
bool is_sealed(std::string_view text);

// A new random key, as a key file holds it (Base64 line).
Result<std::string, CryptoError> new_key_file_text();
// The 32-byte key from a key file's text.
Result<std::string, CryptoError> parse_key_file(std::string_view text);

Result<std::string, CryptoError> seal(std::string_view secret, std::string_view key);
Result<std::string, CryptoError> unseal(std::string_view sealed, std::string_view key);

}  // namespace exsync::crypto
