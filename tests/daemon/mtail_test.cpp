// contrib/mtail/exsync.mtail, run by Debian's mtail in its one-shot test mode over a real
// daemon log: syncs, a mailbox that does not exist, throttling, a write Exchange refuses until it
// is parked, a reload and a broken one, held deletions and a refused sign-in. Each counter must
// equal what the log itself says, counted here independently of the program.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;

const std::filesystem::path kProgram = test::source_dir() / "contrib" / "mtail" / "exsync.mtail";

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

// The sum of `field`=N over the lines of `event`.
long sum_of(const std::string& log, const std::string& event, const std::string& field) {
  long total = 0;
  std::istringstream in(log);
  const std::regex re(" " + field + "=(\\d+)");
  for (std::string line; std::getline(in, line);) {
    if (line.find(" event=" + event + " ") == std::string::npos) continue;
    std::smatch m;
    if (std::regex_search(line, m, re)) total += std::stol(m[1]);
  }
  return total;
}

// mtail's Prometheus text: "name{labels} value" lines, by "name{labels}" (labels in mtail's order).
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

TEST(MtailProgramTest, CompilesWithDebiansMtail) {
  auto r = test::run_process({"/usr/bin/mtail", "--compile_only", "--progs", kProgram.string(), "--logtostderr",
                                "--address", "127.0.0.1", "--port", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(MtailProgramTest, TurnsARealDaemonLogIntoTheMetricsItTells) {
  test::Simulator sim(test::SimOptions{.mailboxes = 2, .contacts = 20, .events = 0});
  const std::string agent1 = "agent1@contoso.onmicrosoft.com", agent2 = "agent2@contoso.onmicrosoft.com",
                    gone = "gone@contoso.onmicrosoft.com";
  test::write_file(sim.dir() / "mailboxes.txt", agent1 + "\n" + agent2 + "\n" + gone + "\n");
  test::edit_config(sim.config(), "interval_seconds = 10", "interval_seconds = 1");
  test::edit_config(sim.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
  ASSERT_EQ(sim.control("PUT", "/sim/faults/ews", R"({"kind":"server_busy","backoff_ms":50,"count":2,"mailbox":")" +
                                                      agent2 + "\"}").status, 204);
  std::string log;
  test::TempDir logs;
  {
    test::Daemon daemon(sim.config(), logs.path());
    daemon.start();
    const auto dlog = [&] { return daemon.log(); };
    ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done round=2") != std::string::npos; },
                                 "two rounds", dlog));
    // A CRM contact Exchange answers with a sign-in page three times: parked.
    ASSERT_EQ(sim.control("PUT", "/sim/faults/ews", R"({"kind":"foreign_xml","operation":"CreateItem","count":3,"mailbox":")" +
                                                        agent1 + "\"}").status, 204);
    test::CrmApi api(sim);
    ASSERT_EQ(api.call("POST", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts",
                       R"({"display_name":"Refused thrice"})").status, 201);
    ASSERT_TRUE(test::eventually([&] { return daemon.log().find("parked=true") != std::string::npos; }, "the write parked",
                                 dlog));
    // A reload, then one of a broken file.
    daemon.signal(SIGHUP);
    ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=config.reloaded") != std::string::npos; },
                                 "the reload", dlog));
    const auto good = test::read_file(sim.config());
    test::write_file(sim.config(), good + "\n[nonsense]\n");
    daemon.signal(SIGHUP);
    ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=config.reload.failed") != std::string::npos; },
                                 "the failed reload", dlog));
    test::write_file(sim.config(), good);
    ASSERT_TRUE(daemon.stop());
    log += daemon.log();
  }
  // Most of agent1's contacts deleted in Outlook at once: held.
  const auto contacts = sim.contacts(agent1);
  std::size_t deleted = 0;
  for (const auto& [id, line] : contacts) {
    if (deleted++ == contacts.size() * 8 / 10) break;
    ASSERT_EQ(sim.control("DELETE", "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts/" + test::url_segment(id)).status,
              204);
  }
  auto once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim.config().string()});
  log += once.err;
  ASSERT_NE(once.err.find("event=sync.deletions.held mailbox=" + agent1), std::string::npos) << once.err;
  // The service account's password changed by the admin: the sign-in is refused.
  ASSERT_EQ(sim.control("PUT", "/sim/password", R"({"password":"rotated-by-the-admin"})").status, 204);
  once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim.config().string()});
  log += once.err;
  ASSERT_NE(once.err.find("event=auth.token.failed"), std::string::npos) << once.err;

  // mtail's test mode: the program over the log from its start, the metrics printed at the end.
  const auto one_shot = [&](const std::filesystem::path& file) {
    return test::run_process({"/usr/bin/mtail", "--one_shot", "--one_shot_format=prometheus", "--emit_prog_label=false",
                              "--progs", kProgram.string(), "--logs", file.string(), "--logtostderr",
                              "--address", "127.0.0.1", "--port", "0"});
  };
  const auto file = logs.path() / "exsyncd.log";
  test::write_file(file, log);
  auto r = one_shot(file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto m = parse_prometheus(r.out);
  const auto at = [&](const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? -1.0 : it->second;
  };
  SCOPED_TRACE("mtail printed:\n" + r.out);

  EXPECT_EQ(at("exsync_log_folder_syncs_total{result=\"success\"}"), count(log, "event=sync.folder.done "));
  EXPECT_EQ(at("exsync_log_folder_syncs_total{result=\"failure\"}"), count(log, "event=sync.mailbox.failed "));
  EXPECT_GT(count(log, "event=sync.mailbox.failed "), 0u);
  EXPECT_EQ(at("exsync_log_items_total{change=\"created\"}"), sum_of(log, "sync.folder.done", "created"));
  EXPECT_EQ(at("exsync_log_items_total{change=\"deleted\"}"), sum_of(log, "sync.folder.done", "deleted"));
  // Each mailbox's gauge is its last sync's outcome in the log (the last run failed them all).
  for (const auto& mb : {agent1, agent2, gone}) {
    const auto done = log.rfind("event=sync.folder.done mailbox=" + mb + " ");
    const auto failed = log.rfind("event=sync.mailbox.failed mailbox=" + mb + " ");
    ASSERT_NE(failed, std::string::npos) << mb;
    EXPECT_EQ(at("exsync_log_mailbox_failing{mailbox=\"" + mb + "\"}"), done == std::string::npos || failed > done ? 1 : 0) << mb;
  }
  // mtail prints labels in name order.
  double throttled = 0;
  for (const auto& [key, value] : m)
    if (key.rfind("exsync_log_throttled_total{code=\"ErrorServerBusy\",operation=", 0) == 0) throttled += value;
  EXPECT_EQ(throttled, count(log, "event=sync.throttled "));
  EXPECT_GT(throttled, 0);
  EXPECT_EQ(at("exsync_log_token_failures_total{aadsts=\"50126\",kind=\"wrong_password\"}"),
            count(log, "event=auth.token.failed kind=wrong_password aadsts=50126 "));
  EXPECT_GT(count(log, "aadsts=50126"), 0u);
  EXPECT_EQ(at("exsync_log_writes_failed_total{parked=\"true\"}"), count(log, "parked=true"));
  EXPECT_EQ(at("exsync_log_writes_failed_total{parked=\"false\"}"), count(log, "parked=false"));
  EXPECT_EQ(at("exsync_log_deletions_held_total{folder=\"contacts\",mailbox=\"" + agent1 + "\"}"),
            count(log, "event=sync.deletions.held mailbox=" + agent1 + " folder=contacts "));
  EXPECT_EQ(at("exsync_log_deletions_held_total{folder=\"contacts\",mailbox=\"" + agent1 + "\"}"), 1);
  EXPECT_EQ(at("exsync_log_mailbox_failures_total{kind=\"remote\",reason=\"mailbox_not_found\"}"),
            count(log, " kind=remote reason=mailbox_not_found "));
  EXPECT_GT(count(log, "event=sync.mailbox.failed mailbox=" + gone + " "), 0u);
  EXPECT_EQ(at("exsync_log_reloads_total{result=\"ok\"}"), 1);
  EXPECT_EQ(at("exsync_log_reloads_total{result=\"failed\"}"), 1);
  EXPECT_EQ(at("exsync_log_daemon_starts_total"), count(log, "event=daemon.started "));
  // The same log as syslog writes it, each record after its prefix, counts the same.
  std::string prefixed;
  std::istringstream lines_in(log);
  for (std::string line; std::getline(lines_in, line);) prefixed += "Dec  3 10:00:00 crm-sync exsyncd[4242]: " + line + "\n";
  const auto syslog_file = logs.path() / "syslog";
  test::write_file(syslog_file, prefixed);
  auto again = one_shot(syslog_file);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(parse_prometheus(again.out), m) << "a syslog prefix changes nothing";
  double lines = 0;
  for (const char* level : {"debug", "info", "warn", "error"}) lines += std::max(0.0, at(std::string("exsync_log_lines_total{level=\"") + level + "\"}"));
  EXPECT_EQ(lines, count(log, " event="));
}

}  // namespace
}  // namespace exsync
