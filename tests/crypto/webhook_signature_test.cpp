#include "exsync/crypto/webhook_signature.hpp"

#include <gtest/gtest.h>

namespace exsync::crypto {
namespace {

// The example of the Standard Webhooks specification's reference libraries: a receiver built on
// any of them accepts what exsync signs.
TEST(WebhookSignatureTest, MatchesTheSpecificationsExample) {
  auto key = parse_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(webhook_signature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  // Any change to the id, the time or the body changes it.
  EXPECT_NE(webhook_signature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignatureTest, ASecretIsWhsecAndBase64OfEnoughBytes) {
  EXPECT_TRUE(parse_webhook_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")) << "the prefix is optional";
  EXPECT_FALSE(parse_webhook_secret("whsec_not base64!"));
  EXPECT_FALSE(parse_webhook_secret("whsec_c2hvcnQ="));  // "short"
  EXPECT_FALSE(parse_webhook_secret(""));
}

}  // namespace
}  // namespace exsync::crypto
