#include <gtest/gtest.h>

#include <map>

#include "exsync/auth/auth_error.hpp"
#include "test_support.hpp"

namespace exsync::auth {
namespace {

TEST(AuthErrorTest, ClassifiesEntrasErrorBody) {
  const auto e = classify_token_error(400, R"({"error":"invalid_grant","error_description":"AADSTS50126: Error validating credentials due to invalid username or password.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-01-01 00:00:00Z","error_codes":[50126]})");
  EXPECT_EQ(e.kind, AuthErrorKind::wrong_password);
  EXPECT_EQ(e.aadsts, 50126);
  EXPECT_EQ(e.error, "invalid_grant");
  EXPECT_EQ(e.description, "AADSTS50126: Error validating credentials due to invalid username or password.");
  EXPECT_NE(std::string(e.advice()).find("password_file"), std::string::npos);
}

TEST(AuthErrorTest, FindsTheCodeInTheDescriptionWhenErrorCodesIsMissing) {
  const auto e = classify_token_error(400, R"({"error":"invalid_grant","error_description":"AADSTS50055: The password is expired."})");
  EXPECT_EQ(e.kind, AuthErrorKind::password_expired);
}

TEST(AuthErrorTest, NonJsonAnswersAreProtocolOrServerErrors) {
  EXPECT_EQ(classify_token_error(502, "<html>Bad Gateway</html>").kind, AuthErrorKind::server);
  EXPECT_EQ(classify_token_error(404, "Not Found").kind, AuthErrorKind::protocol);
}

// Every recorded or documented Entra error in ../shared is classified as the code says.
TEST(AuthErrorTest, ClassifiesEveryCapturedEntraError) {
  auto shared = test::shared_dir();
  if (!shared || !std::filesystem::exists(*shared / "ews-captures" / "entra"))
    GTEST_FAIL() << "../shared/ews-captures is missing: the reference data this test checks against must sit beside the clone";
  const std::map<int, AuthErrorKind> expected = {
      {50126, AuthErrorKind::wrong_password},        {50055, AuthErrorKind::password_expired},
      {50076, AuthErrorKind::mfa_required},          {50079, AuthErrorKind::mfa_required},
      {65001, AuthErrorKind::consent_required},      {7000218, AuthErrorKind::public_client_disabled},
      {700016, AuthErrorKind::app_not_found},        {90002, AuthErrorKind::tenant_not_found},
      {50034, AuthErrorKind::user_not_found},        {50053, AuthErrorKind::account_locked},
      {50057, AuthErrorKind::account_locked},        {53003, AuthErrorKind::conditional_access},
      {700082, AuthErrorKind::refresh_token_expired}, {50173, AuthErrorKind::refresh_token_expired},
  };
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(*shared / "ews-captures" / "entra")) {
    const auto name = entry.path().filename().string();
    if (name.rfind("token_error_", 0) != 0 || name.find(".meta.") != std::string::npos) continue;
    const int code = std::stoi(name.substr(12));
    const auto body = test::read_file(entry.path());
    const auto e = classify_token_error(400, body);
    ASSERT_TRUE(expected.contains(code)) << name;
    EXPECT_EQ(e.kind, expected.at(code)) << name;
    EXPECT_EQ(e.aadsts, code) << name;
    EXPECT_EQ(e.description.find('\n'), std::string::npos) << "one line only: " << name;
    EXPECT_FALSE(std::string(e.advice()).empty());
    ++checked;
  }
  EXPECT_GE(checked, 14);
}

}  // namespace
}  // namespace exsync::auth
