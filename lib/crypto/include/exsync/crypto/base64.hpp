// Base64 (RFC 4648) with OpenSSL: for sealed secrets, HTTP Basic credentials and the claims of
// a JWT. Thread-safety: free functions without shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace exsync::crypto {

// Standard alphabet, padded.
std::string base64_encode(std::string_view raw);
// Standard alphabet, padded; line breaks and spaces are skipped. nullopt when not Base64.
std::optional<std::string> base64_decode(std::string_view text);
// The URL-safe alphabet without padding (the parts of a JWT).
std::string base64url_encode(std::string_view raw);
// The URL-safe alphabet, padding optional.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace exsync::crypto
