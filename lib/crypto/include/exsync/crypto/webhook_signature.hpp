// Webhook signatures as the Standard Webhooks specification defines them
// (https://www.standardwebhooks.com, "Signature scheme"): the receiver's secret is
// "whsec_" + Base64 of its key bytes; a message's signature is "v1," + Base64 of
// HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"), sent in `webhook-signature`.
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"

namespace exsync::crypto {

// The key bytes of a "whsec_..." secret (the prefix optional, as the specification allows).
// Errors: not Base64, or shorter than 24 bytes (the specification asks for 24 to 64).
Result<std::string, std::string> parse_webhook_secret(std::string_view secret);

// The `webhook-signature` value for a message: "v1,<Base64 HMAC-SHA256>".
std::string webhook_signature(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body);

// HMAC-SHA256 of `data` under `key`, raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

}  // namespace exsync::crypto
