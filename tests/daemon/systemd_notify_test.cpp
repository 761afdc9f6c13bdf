// exsyncd as a Type=notify service: the sd_notify protocol over a real notify socket, the way
// systemd runs it (NOTIFY_SOCKET, WATCHDOG_USEC), with the real daemon and simulator.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A unix datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << path;
  }
  ~NotifySocket() { ::close(fd_); }
  const fs::path& path() const { return path_; }

  // Reads messages until `done` holds for the ones seen so far, or `timeout` passes.
  bool read_until(const std::function<bool(const std::vector<std::string>&)>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done(messages)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) messages.emplace_back(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  std::vector<std::string> messages;

 private:
  fs::path path_;
  int fd_ = -1;
};

int count(const std::vector<std::string>& messages, const std::string& needle) {
  int n = 0;
  for (const auto& m : messages) n += m.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

TEST(SystemdNotifyTest, ReadyStatusWatchdogAndStoppingOverTheNotifySocket) {
  test::Simulator sim{test::SimOptions{.mailboxes = 3, .contacts = 20}};
  test::TempDir dir;
  NotifySocket notify(dir / "notify.sock");
  test::Process daemon({"/usr/bin/env", "NOTIFY_SOCKET=" + notify.path().string(), "WATCHDOG_USEC=600000",
                        test::exsyncd_path().string(), "run", "--config", sim.config().string()},
                       dir.path(), "exsyncd");

  ASSERT_TRUE(notify.read_until([](const auto& m) { return count(m, "READY=1") == 1; }, 30s))
      << daemon.stderr_text();
  const auto& ready = notify.messages.back();
  EXPECT_NE(ready.find("STATUS=initial sync: "), std::string::npos) << ready;
  EXPECT_NE(ready.find("/3 mailboxes done"), std::string::npos) << ready;

  // Pings at a third of WatchdogSec, with the progress.
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(notify.read_until([](const auto& m) { return count(m, "WATCHDOG=1") >= 3; }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "three pings within about 0.6 s";
  ASSERT_TRUE(notify.read_until([](const auto& m) { return count(m, "STATUS=3 mailboxes, round") >= 1; }, 20s))
      << "after the first round, STATUS says how it went";
  EXPECT_EQ(count(notify.messages, "STOPPING=1"), 0);

  daemon.signal(SIGTERM);
  ASSERT_TRUE(notify.read_until([](const auto& m) { return count(m, "STOPPING=1") == 1; }, 10s));
  auto r = daemon.wait(20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->err.find("systemd.notify.failed"), std::string::npos) << r->err;
}

// The units are hardened: systemd's own offline rating, 1.5 or lower ("OK"), for both.
TEST(SystemdUnitTest, TheUnitsRateAsWellHardened) {
  if (!fs::exists("/usr/bin/systemd-analyze")) GTEST_SKIP() << "systemd-analyze is not installed";
  for (const char* unit : {"exsyncd.service", "exsyncd@.service"}) {
    const auto path = test::source_dir() / "systemd" / unit;
    auto r = test::run_process({"/usr/bin/systemd-analyze", "security", "--offline=yes", path.string()});
    const auto at = r.out.find("Overall exposure level for ");
    ASSERT_NE(at, std::string::npos) << r.out << r.err;
    const auto colon = r.out.find(": ", at);
    const double exposure = std::stod(r.out.substr(colon + 2));
    EXPECT_LE(exposure, 1.5) << unit << "\n" << r.out;
  }
}

}  // namespace
}  // namespace exsync
