// The shipped Prometheus rules (contrib/prometheus) with the real tools: promtool's own unit tests
// of every alert, promtool's lint of the daemon's /metrics, and Debian's prometheus scraping a
// running daemon with its bearer token, evaluating every rule against it and firing one.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

const std::filesystem::path kRules = test::source_dir() / "contrib" / "prometheus";

TEST(PrometheusRulesTest, EveryAlertPassesItsPromtoolUnitTest) {
  auto check = test::run_process({"/usr/bin/promtool", "check", "rules", (kRules / "alerts.yml").string()});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  auto unit = test::run_process({"/usr/bin/promtool", "test", "rules", (kRules / "alerts_test.yml").string()});
  EXPECT_EQ(unit.exit_code, 0) << unit.out << unit.err;
  EXPECT_NE(unit.out.find("SUCCESS"), std::string::npos) << unit.out;
}

class PrometheusScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Graph with change notifications, so that a forged notification can fire an alert.
    test::edit_config(sim_.config(), "[tenant]\n",
                      "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
    test::edit_config(sim_.config(), "[graph]\n", "[graph]\nnotification_url = \"https://hooks.contoso.example/exsync/graph\"\n");
    api_ = test::api_address(sim_);
  }

  // GET against the Prometheus HTTP API; the parsed answer's data, or null.
  json::value query(const std::string& path) {
    auto r = test::run_process({"/usr/bin/curl", "-s", "-m", "5", "http://" + prometheus_ + path});
    json::error_code ec;
    auto v = json::parse(r.out, ec);
    if (ec || !v.is_object() || v.at("status") != "success") return nullptr;
    return v.at("data");
  }
  // The instant vector of a PromQL expression.
  json::array instant(const std::string& expr) {
    auto d = query("/api/v1/query?query=" + test::url_segment(expr));
    return d.is_object() ? d.at("result").as_array() : json::array{};
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 3, .events = 1}};
  std::string api_, prometheus_;
};

TEST_F(PrometheusScrapeTest, PrometheusScrapesTheDaemonWithItsTokenEvaluatesEveryRuleAndFiresOne) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notifications.ready") != std::string::npos; },
                               "the daemon's subscriptions", log));

  // promtool's lint of what the daemon serves.
  test::CrmApi api(sim_);
  const auto metrics = api.call("GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  test::write_file(logs.path() / "metrics.txt", metrics.body);
  auto lint = test::run_process({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + (logs.path() / "metrics.txt").string()});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;

  // Prometheus as an operator runs it: the daemon's job with the API token, the shipped rules.
  test::TempDir prom;
  test::write_file(prom / "prometheus.yml",
                   "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                   "rule_files:\n  - " + (kRules / "alerts.yml").string() + "\n"
                   "scrape_configs:\n  - job_name: exsync\n    authorization:\n      type: Bearer\n"
                   "      credentials_file: " + (sim_.dir() / "api.token").string() + "\n"
                   "    static_configs:\n      - targets: ['" + api_ + "']\n");
  test::Process prometheus({"/usr/bin/prometheus", "--config.file=" + (prom / "prometheus.yml").string(),
                            "--storage.tsdb.path=" + (prom / "data").string(), "--web.listen-address=127.0.0.1:0"},
                           prom.path(), "prometheus");
  const auto prom_log = [&] { return prometheus.stderr_text(); };
  ASSERT_TRUE(test::eventually([&] {
    const auto text = prometheus.stderr_text();
    const auto at = text.find("msg=\"Listening on\" address=");
    if (at == std::string::npos) return false;
    const auto start = at + 27;
    prometheus_ = text.substr(start, text.find_first_of(" \n", start) - start);
    return true;
  }, "prometheus listening", prom_log));

  ASSERT_TRUE(test::eventually([&] {
    auto up = instant("up{job=\"exsync\"}");
    return up.size() == 1 && up[0].at("value").as_array()[1] == "1";
  }, "the daemon scraped with its token", prom_log));
  for (const char* series : {"exsync_mailboxes", "exsync_mailbox_syncs_total", "exsync_requests_total",
                             "exsync_sync_interval_seconds", "exsync_token_failing", "exsync_push_enabled",
                             "exsync_mailboxes_changes", "exsync_graph_subscriptions_total"})
    EXPECT_FALSE(instant(series).empty()) << series << " is not queryable";
  ASSERT_TRUE(test::eventually([&] {
    auto rules = query("/api/v1/rules");
    if (!rules.is_object()) return false;
    int ok = 0;
    for (const auto& g : rules.at("groups").as_array())
      for (const auto& r : g.at("rules").as_array()) ok += r.at("health") == "ok" ? 1 : 0;
    return ok == 11;
  }, "every rule evaluated without error", prom_log));
  EXPECT_TRUE(instant("ALERTS{alertstate=\"firing\"}").empty()) << "a healthy daemon fires nothing";

  // A notification that is not the daemon's: ExsyncNotificationsRefused fires.
  ASSERT_TRUE(test::eventually([&] { return !instant("exsync_graph_notifications_total{outcome=\"refused\"} == 0").empty(); },
                               "the refused counter scraped at 0", prom_log));
  auto forged = test::run_process({"/usr/bin/curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                                   "-H", "Content-Type: application/json", "--data-binary",
                                   R"({"value":[{"subscriptionId":"00000000-0000-0000-0000-000000000000","clientState":"x","changeType":"created"}]})",
                                   "http://" + api_ + "/v1/graph/notifications"});
  EXPECT_EQ(forged.out, "202");
  ASSERT_TRUE(test::eventually([&] {
    return !instant("ALERTS{alertname=\"ExsyncNotificationsRefused\",alertstate=\"firing\"}").empty();
  }, "ExsyncNotificationsRefused firing", prom_log));
  prometheus.signal(SIGTERM);
  EXPECT_TRUE(prometheus.wait(20s));
  ASSERT_TRUE(daemon.stop());
}

}  // namespace
}  // namespace exsync
