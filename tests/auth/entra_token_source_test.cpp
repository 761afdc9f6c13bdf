#include "exsync/auth/entra_token_source.hpp"

#include <gtest/gtest.h>

#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/json.hpp>

#include "test_support.hpp"

namespace exsync::auth {
namespace {

using namespace std::chrono_literals;

// The token source against the simulator's real token endpoint, with a manual clock.
class EntraTokenSourceTest : public ::testing::Test {
 protected:
  void SetUp() override { client_ = std::move(*http::Client::create(io_.get_executor(), sim_.client_options())); }
  RopcSettings settings(std::string password = "") {
    auto s = sim_.ropc_settings();
    if (!password.empty()) s.password = password;
    return s;
  }
  int sim_token_requests() {
    return static_cast<int>(boost::json::parse(sim_.control("GET", "/sim/stats").body).at("token_requests").as_int64());
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 1, .contacts = 0}};
  boost::asio::io_context io_;
  std::unique_ptr<http::Client> client_;
  ManualClock clock_;
};

TEST_F(EntraTokenSourceTest, SignsInWithThePasswordAndCachesTheToken) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings());
  auto t1 = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t1) << t1.error().description;
  auto t2 = test::run(io_, tokens.access_token());
  EXPECT_EQ(*t2, *t1);
  EXPECT_EQ(tokens.token_requests(), 1);
}

TEST_F(EntraTokenSourceTest, ConcurrentCallersShareOneTokenRequest) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings());
  std::vector<std::string> got;
  auto one = [&]() -> Task<void> {
    auto r = co_await tokens.access_token();
    got.push_back(r ? *r : "failed");
  };
  auto many = [&]() -> Task<int> {
    auto ex = co_await net::this_coro::executor;
    using Op = decltype(net::co_spawn(ex, one(), net::deferred));
    std::vector<Op> ops;
    for (int i = 0; i < 10; ++i) ops.push_back(net::co_spawn(ex, one(), net::deferred));
    co_await net::experimental::make_parallel_group(std::move(ops))
        .async_wait(net::experimental::wait_for_all(), net::use_awaitable);
    co_return 0;
  };
  test::run(io_, many());
  ASSERT_EQ(got.size(), 10u);
  for (const auto& t : got) EXPECT_EQ(t, got.front());
  EXPECT_EQ(tokens.token_requests(), 1);
  EXPECT_EQ(sim_token_requests(), 1);
}

TEST_F(EntraTokenSourceTest, RefreshesAheadOfExpiryWithTheRefreshToken) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings());
  auto t1 = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t1);
  clock_.advance(3600s - 200s);  // inside the 300 s refresh margin
  auto t2 = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t2) << t2.error().description;
  EXPECT_NE(*t2, *t1);
  EXPECT_EQ(tokens.token_requests(), 2);
  clock_.advance(3600s);
  auto t3 = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t3);
  EXPECT_EQ(tokens.token_requests(), 3);
}

TEST_F(EntraTokenSourceTest, ARefusedRefreshTokenFallsBackToThePassword) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings());
  ASSERT_TRUE(test::run(io_, tokens.access_token()));
  sim_.control("PUT", "/sim/faults/token", R"({"aadsts": 700082, "count": 1})");
  clock_.advance(4000s);
  auto t = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t) << t.error().description;
  EXPECT_EQ(tokens.token_requests(), 3);  // password, refused refresh, password
}

TEST_F(EntraTokenSourceTest, AWrongPasswordIsClassified) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings("not-the-password"));
  auto t = test::run(io_, tokens.access_token());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().kind, AuthErrorKind::wrong_password);
  EXPECT_EQ(t.error().aadsts, 50126);
  EXPECT_EQ(t.error().description.find("not-the-password"), std::string::npos);
}

TEST_F(EntraTokenSourceTest, ARefusedSignInIsNotRetriedForEveryCaller) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings("not-the-password"));
  for (int i = 0; i < 5; ++i) {
    auto t = test::run(io_, tokens.access_token());
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().kind, AuthErrorKind::wrong_password);
  }
  EXPECT_EQ(tokens.token_requests(), 1);
  clock_.advance(61s);
  EXPECT_FALSE(test::run(io_, tokens.access_token()));
  EXPECT_EQ(tokens.token_requests(), 2);
}

// The breach procedure: the admin changes the password, seals the new one and reloads; the
// next sign-in uses it at once, without waiting out the memory of the refused one.
TEST_F(EntraTokenSourceTest, ARotatedPasswordIsUsedAtOnce) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings("the-old-password"));
  ASSERT_FALSE(test::run(io_, tokens.access_token()));
  tokens.set_password(sim_.password());
  auto t = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t) << t.error().description;
  EXPECT_EQ(tokens.token_requests(), 2);
}

TEST_F(EntraTokenSourceTest, EachInjectedEntraFailureIsClassified) {
  const std::pair<int, AuthErrorKind> cases[] = {
      {50055, AuthErrorKind::password_expired},   {50076, AuthErrorKind::mfa_required},
      {65001, AuthErrorKind::consent_required},   {7000218, AuthErrorKind::public_client_disabled},
      {700016, AuthErrorKind::app_not_found},     {90002, AuthErrorKind::tenant_not_found},
      {50034, AuthErrorKind::user_not_found},     {50057, AuthErrorKind::account_locked},
      {53003, AuthErrorKind::conditional_access},
  };
  for (const auto& [code, kind] : cases) {
    EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings());
    sim_.control("PUT", "/sim/faults/token", "{\"aadsts\": " + std::to_string(code) + ", \"count\": 1}");
    auto t = test::run(io_, tokens.access_token());
    ASSERT_FALSE(t) << code;
    EXPECT_EQ(t.error().kind, kind) << code;
    EXPECT_EQ(t.error().aadsts, code);
  }
}

TEST_F(EntraTokenSourceTest, AnUnreachableEndpointIsANetworkError) {
  auto s = settings();
  s.token_url = "https://127.0.0.1:1/contoso.onmicrosoft.com/oauth2/v2.0/token";
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, s);
  auto t = test::run(io_, tokens.access_token());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().kind, AuthErrorKind::network);
}

TEST_F(EntraTokenSourceTest, ARejectedTokenIsReplaced) {
  EntraTokenSource tokens(io_.get_executor(), *client_, clock_, settings());
  auto t1 = test::run(io_, tokens.access_token());
  tokens.reject(*t1);
  auto t2 = test::run(io_, tokens.access_token());
  ASSERT_TRUE(t2);
  EXPECT_NE(*t1, *t2);
}

}  // namespace
}  // namespace exsync::auth
