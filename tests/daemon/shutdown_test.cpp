// SIGTERM ends `exsyncd run` within its grace period (20 s) whatever is in flight: requests
// held by an endpoint-wide pause, and connections that never get past the TLS handshake.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::poll_every_second(sim_.config());
  }
  void wait_for(const std::string& needle) {
    const auto deadline = Clock::now() + 30s;
    while (daemon_.log().find(needle) == std::string::npos) {
      ASSERT_LT(Clock::now(), deadline) << "no " << needle << "\n" << daemon_.log();
      std::this_thread::sleep_for(20ms);
    }
  }
  // SIGTERM, and how long the daemon took to exit 0.
  std::chrono::milliseconds stop() {
    const auto sent = Clock::now();
    daemon_.signal(SIGTERM);
    auto r = daemon_.wait(40s);
    EXPECT_TRUE(r) << "still running 40 s after SIGTERM\n" << daemon_.log();
    if (!r) return 40s;
    EXPECT_EQ(r->exit_code, 0) << r->err;
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent);
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 3, .events = 1}};
  test::TempDir logs_;
  test::Daemon daemon_{sim_.config(), logs_.path()};
};

// Exchange asks every request to wait two minutes (HTTP 503, Retry-After: 120).
TEST_F(ShutdownTest, SigtermDuringAnEndpointPauseEndsAtOnce) {
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"http503","backoff_ms":120000,"count":-1})").status, 204);
  daemon_.start();
  wait_for("code=HTTP503");
  std::this_thread::sleep_for(500ms);  // requests now wait out the pause
  EXPECT_LT(stop(), 5s) << daemon_.log();
}

// The EWS endpoint accepts TCP connections and never answers the TLS handshake.
TEST_F(ShutdownTest, SigtermWhileConnectionsHangInTheHandshakeEndsWithinTheGrace) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 64), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto text = test::read_file(sim_.config());
  const auto at = text.find("url = \"https://127.0.0.1:");
  ASSERT_NE(at, std::string::npos);
  const auto end = text.find('\n', at);
  text.replace(at, end - at, "url = \"https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/EWS/Exchange.asmx\"");
  test::write_file(sim_.config(), text);

  daemon_.start();
  std::this_thread::sleep_for(1500ms);  // the token came from the simulator; EWS hangs
  EXPECT_LT(stop(), 25s) << daemon_.log();
  ::close(listener);
}

}  // namespace
}  // namespace exsync
