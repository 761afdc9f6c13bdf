// Every line exsyncd logs is one well-formed record whose event is in docs/LOG_EVENTS.md, and
// none carries a secret: checked over real runs of the daemon against the simulator (syncs, a
// failing mailbox, throttling, a reload, a stop, a refused sign-in), in logfmt and in JSON.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;

// The event names of the catalogue: every `name` in the first column of its table.
std::set<std::string> catalogue() {
  std::set<std::string> names;
  std::istringstream in(test::read_file(test::source_dir() / "docs" / "LOG_EVENTS.md"));
  std::string line;
  const std::regex name("`([a-z_]+(\\.[a-z_]+)+)`");
  while (std::getline(in, line)) {
    if (line.rfind("| `", 0) != 0) continue;
    const auto cell = line.substr(1, line.find('|', 1) - 1);
    for (std::sregex_iterator it(cell.begin(), cell.end(), name), end; it != end; ++it) names.insert((*it)[1]);
  }
  return names;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

// ts=... level=... event=... then key=value pairs, values bare or quoted with \" and \\ escapes.
const std::regex kLogfmt(
    R"(ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(debug|info|warn|error) event=([a-z_.]+)( [a-z_]+=([^ "=]*|"([^"\\]|\\.)*"))*)");

class LogCatalogueTest : public ::testing::Test {
 protected:
  void check(const std::string& stderr_text, bool json) {
    const auto events = catalogue();
    ASSERT_GT(events.size(), 30u);
    const std::vector<std::string> secrets = {sim_.password(), test::read_file(sim_.dir() / "api.token").substr(0, 40),
                                              "0.AXsim."};
    const auto lines = lines_of(stderr_text);
    ASSERT_FALSE(lines.empty());
    for (const auto& line : lines) {
      std::string event;
      if (json) {
        boost::json::error_code ec;
        auto v = boost::json::parse(line, ec);
        ASSERT_FALSE(ec) << "not one JSON record: " << line;
        ASSERT_TRUE(v.is_object()) << line;
        for (const char* key : {"ts", "level", "event"}) ASSERT_TRUE(v.as_object().contains(key)) << line;
        event = std::string(v.at("event").as_string());
      } else {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(line, m, kLogfmt)) << "not one logfmt record: " << line;
        event = m[2];
      }
      EXPECT_TRUE(events.contains(event)) << "not in docs/LOG_EVENTS.md: " << event << "\n" << line;
      seen.insert(event);
      for (const auto& secret : secrets) EXPECT_EQ(line.find(secret), std::string::npos) << "a secret in: " << line;
    }
  }
  void set_config(const std::string& from, const std::string& to) { test::edit_config(sim_.config(), from, to); }
  test::Simulator sim_{test::SimOptions{.mailboxes = 3, .contacts = 30}};
  std::set<std::string> seen;
};

TEST_F(LogCatalogueTest, EveryLineOfARunIsACataloguedRecordWithoutSecrets) {
  test::write_file(sim_.dir() / "mailboxes.txt",
                   "agent1@contoso.onmicrosoft.com\nagent2@contoso.onmicrosoft.com\ngone@contoso.onmicrosoft.com\n");
  set_config("interval_seconds = 10", "interval_seconds = 1");
  set_config("level = \"info\"", "level = \"debug\"");
  sim_.control("PUT", "/sim/faults/ews",
               R"({"kind":"server_busy","backoff_ms":50,"count":2,"mailbox":"agent2@contoso.onmicrosoft.com"})");
  test::TempDir logs;
  test::Process daemon({test::exsyncd_path().string(), "run", "--config", sim_.config().string()}, logs.path(),
                       "exsyncd");
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (daemon.stderr_text().find("event=sync.round.done round=2") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << daemon.stderr_text();
    std::this_thread::sleep_for(20ms);
  }
  test::write_file(sim_.dir() / "mailboxes.txt", "agent1@contoso.onmicrosoft.com\nagent3@contoso.onmicrosoft.com\n");
  daemon.signal(SIGHUP);
  while (daemon.stderr_text().find("event=config.reloaded") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << daemon.stderr_text();
    std::this_thread::sleep_for(20ms);
  }
  daemon.signal(SIGTERM);
  auto r = daemon.wait(20s);
  ASSERT_TRUE(r);
  check(r->err, false);

  // A refused sign-in, in JSON.
  set_config("format = \"logfmt\"", "format = \"json\"");
  sim_.control("PUT", "/sim/password", R"({"password":"rotated-by-the-admin"})");
  auto once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim_.config().string()});
  EXPECT_EQ(once.exit_code, 1);
  check(once.err, true);

  for (const char* event : {"daemon.started", "sync.folder.done", "sync.mailbox.failed", "sync.mailbox.backoff",
                            "sync.throttled", "sync.round.done", "config.reloaded", "daemon.stopping",
                            "daemon.stopped", "auth.token.acquired", "auth.token.failed"})
    EXPECT_TRUE(seen.contains(event)) << "the scenario did not log " << event;
}

}  // namespace
}  // namespace exsync
