// Encodings the simulator needs: Base64 (RFC 4648, with padding) for its opaque ids and sync
// states, and percent-decoding for URL paths and form bodies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace exsync::sim {

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view text);

// Decodes %XX escapes (malformed ones are kept as they are); `plus_as_space` for form bodies.
std::string percent_decode(std::string_view text, bool plus_as_space = false);

}  // namespace exsync::sim
