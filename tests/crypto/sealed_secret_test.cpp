#include "exsync/crypto/sealed_secret.hpp"

#include <gtest/gtest.h>

namespace exsync::crypto {
namespace {

std::string key() { return *parse_key_file(*new_key_file_text()); }

TEST(SealedSecretTest, ARoundTripGivesTheSecretBackAndTheSealedTextHidesIt) {
  const auto k = key();
  const std::string secret = "Winter-2026!pa$$ w\xC3\xB6rd";
  auto sealed = seal(secret, k);
  ASSERT_TRUE(sealed);
  EXPECT_TRUE(is_sealed(*sealed));
  EXPECT_EQ(sealed->rfind("exsync-sealed-secret v1\n", 0), 0u);
  EXPECT_EQ(sealed->find("Winter"), std::string::npos);
  EXPECT_NE(*seal(secret, k), *sealed) << "a fresh nonce each time";
  auto opened = unseal(*sealed, k);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, secret);
}

TEST(SealedSecretTest, AChangedByteOrAnotherKeyIsRefusedNotDecryptedIntoGarbage) {
  const auto k = key();
  const auto sealed = *seal("hunter2-hunter2", k);
  EXPECT_FALSE(unseal(sealed, key())) << "another key";
  for (std::size_t i = kSealedHeader.size(); i + 1 < sealed.size(); i += 7) {
    auto tampered = sealed;
    tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(unseal(tampered, k)) << "byte " << i;
  }
  auto newer = sealed;
  newer.replace(0, kSealedHeader.size(), "exsync-sealed-secret v2\n");
  auto r = unseal(newer, k);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("newer"), std::string::npos);
  EXPECT_FALSE(unseal("hunter2", k));
}

TEST(SealedSecretTest, KeyFilesHoldExactly32Bytes) {
  EXPECT_TRUE(parse_key_file(*new_key_file_text()));
  EXPECT_FALSE(parse_key_file("c2hvcnQ=\n"));
  EXPECT_FALSE(parse_key_file("not base64 at all!"));
  EXPECT_FALSE(seal("x", "too short"));
}

}  // namespace
}  // namespace exsync::crypto
