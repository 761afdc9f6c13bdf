// The simulator's Entra endpoint is one Microsoft's own Python auth library signs in to as it
// signs in to Entra: MSAL Python (Debian's python3-msal) reads the tenant's OpenID configuration
// and the user realm, completes ROPC, is refused a wrong password with AADSTS50126 in Entra's
// shape, and refreshes its token silently with the refresh token it cached.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <sstream>

#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

TEST(MsalInteropTest, MsalPythonSignsInIsRefusedAWrongPasswordAndRefreshesSilently) {
  auto probe = test::run_process({"/usr/bin/python3", "-c", "import msal"});
  ASSERT_EQ(probe.exit_code, 0) << "python3-msal is missing (scripts/test installs it): " << probe.err;
  test::Simulator sim(test::SimOptions{.mailboxes = 1, .contacts = 1});
  auto r = test::run_process({"/usr/bin/python3", (test::source_dir() / "tests" / "interop" / "msal_ropc.py").string(),
                              sim.dir().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, json::object> steps;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto o = json::parse(line).as_object();
    steps[std::string(o.at("step").as_string())] = o;
  }
  ASSERT_EQ(steps.size(), 5u) << r.out;
  const auto& ropc = steps["ropc"];
  EXPECT_EQ(ropc.at("ok"), true) << r.out;
  EXPECT_EQ(ropc.at("scope"), "https://outlook.office365.com/EWS.AccessAsUser.All");
  EXPECT_EQ(ropc.at("has_refresh_token"), true);
  EXPECT_EQ(steps["accounts"].at("ok"), true) << "MSAL keyed its cache by the ID token's account: " << r.out;

  const auto& wrong = steps["wrong_password"];
  EXPECT_EQ(wrong.at("ok"), false);
  EXPECT_EQ(wrong.at("error"), "invalid_grant");
  EXPECT_EQ(json::serialize(wrong.at("error_codes")), "[50126]");
  EXPECT_NE(std::string(wrong.at("description").as_string()).find("AADSTS50126"), std::string::npos);

  // Silently: first the cached token itself, then a new one through the refresh token.
  EXPECT_EQ(steps["silent_cached"].at("ok"), true);
  EXPECT_EQ(steps["silent_cached"].at("token"), ropc.at("token"));
  EXPECT_EQ(steps["silent_refresh"].at("ok"), true) << r.out;
  EXPECT_NE(steps["silent_refresh"].at("token"), ropc.at("token"));
  const auto stats = json::parse(sim.control("GET", "/sim/stats").body).as_object();
  EXPECT_EQ(json::serialize(stats.at("token_grants")), R"({"password":1,"refresh_token":1})");
}

}  // namespace
}  // namespace exsync
