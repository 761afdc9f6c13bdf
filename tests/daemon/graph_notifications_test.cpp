// Graph change notifications end to end: the real daemon, on a Graph tenant with app-only access
// and `[graph] notification_url`, against the simulator's subscriptions
// (tests/sim/graph_subscriptions.hpp), which validate the URL, deliver notifications and
// lifecycle events to the daemon's listener (playing the operator's reverse proxy) and grant
// lifetimes of three seconds, so that renewals happen many times within a test. Polling is set
// to ten minutes: only a notification explains a change reaching the CRM within the test's time.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <random>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* kPublicUrl = "https://hooks.contoso.example/exsync/graph";

class GraphNotificationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::edit_config(sim_.config(), "[tenant]\n",
                      "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
    test::edit_config(sim_.config(), "[graph]\n", std::string("[graph]\nnotification_url = \"") + kPublicUrl + "\"\n");
    test::edit_config(sim_.config(), "interval_seconds = 10", "interval_seconds = 600");
    ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"max_lifetime_seconds":3})").status, 200);
  }

  json::object subscriptions() { return json::parse(sim_.control("GET", "/sim/graph/subscriptions").body).as_object(); }
  std::int64_t sim_stat(const char* name) { return subscriptions().at("stats").at(name).as_int64(); }

  void add_contact(const std::string& mailbox, const std::string& name) {
    json::object body{{"display_name", name}, {"company", "Acme"}};
    auto r = sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mailbox) + "/contacts", json::serialize(body));
    ASSERT_EQ(r.status, 201) << r.body;
  }
  bool all_notified(test::CrmApi& api) {
    for (const auto& mb : sim_.mailboxes()) {
      auto s = test::mailbox_sync(api, mb);
      if (!s.contains("changes") || s.at("changes") != "notifications") return false;
    }
    return true;
  }
  // Every event the run logged is in docs/LOG_EVENTS.md.
  static void expect_catalogued(const std::string& log) {
    const auto doc = test::read_file(test::source_dir() / "docs" / "LOG_EVENTS.md");
    for (auto p = log.find(" event="); p != std::string::npos; p = log.find(" event=", p + 1)) {
      const auto start = p + 7;
      const auto name = log.substr(start, log.find_first_of(" \n", start) - start);
      EXPECT_NE(doc.find("| `" + name + "`"), std::string::npos) << "not in docs/LOG_EVENTS.md: " << name;
    }
  }
  static std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
    return n;
  }

  // A request to the daemon's notification route as anyone on the network could send it: no
  // bearer token, through curl. Returns the status and the body.
  std::pair<int, std::string> post_to_daemon(const std::string& query, const std::string& body) {
    const std::string url = "http://" + test::api_address(sim_) + "/v1/graph/notifications" + query;
    auto r = test::run_process({"/usr/bin/curl", "-s", "-m", "10", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body,
                                "-w", "\n%{http_code}", url});
    const auto nl = r.out.rfind('\n');
    return {std::atoi(r.out.substr(nl + 1).c_str()), r.out.substr(0, nl)};
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 3, .contacts = 3, .events = 1}};
};

TEST_F(GraphNotificationsTest, ChangesArriveByNotificationThroughRenewalsAndLifecycleEvents) {
  test::edit_config(sim_.config(), "level = \"info\"", "level = \"debug\"");
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notifications.ready subscriptions=6 failed=0") != std::string::npos; },
                               "six subscriptions (three mailboxes, contacts and calendar)", log));
  test::CrmApi api(sim_);
  ASSERT_TRUE(test::eventually([&] { return all_notified(api); }, "every mailbox on notifications", log));
  const auto mailboxes = sim_.mailboxes();
  EXPECT_EQ(test::mailbox_sync(api, mailboxes[0]).at("poll_interval_seconds"), 1800) << "the poll is only a safety net";
  EXPECT_EQ(sim_stat("created"), 6);
  EXPECT_EQ(sim_stat("validations"), 12) << "each subscription validates its notification and lifecycle URL";
  EXPECT_EQ(sim_stat("validation_failures"), 0);

  // A lead added on the phone reaches the CRM with its notification, not the next poll.
  add_contact(mailboxes[1], "Lead on the call");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[1], "Lead on the call"); }, "the lead in the CRM",
                               log, 20s));

  // Graph grants three seconds: every subscription is renewed before it lapses.
  ASSERT_TRUE(test::eventually([&] { return sim_stat("renewed") >= 12; }, "renewals", log));
  EXPECT_EQ(sim_stat("expired"), 0) << "no subscription lapsed";
  EXPECT_EQ(sim_stat("created"), 6) << "a renewal keeps its subscription";

  // Graph removes one mailbox's subscriptions: they are made again, and changes flow.
  ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/lifecycle",
                         R"({"event":"subscriptionRemoved","mailbox":")" + mailboxes[0] + "\"}").status, 200);
  ASSERT_TRUE(test::eventually([&] { return sim_stat("created") == 8; }, "the removed subscriptions made again", log));
  EXPECT_NE(daemon.log().find("event=graph.notification.lifecycle mailbox=" + mailboxes[0] +
                              " folder=contacts lifecycle_event=subscriptionRemoved"), std::string::npos);
  add_contact(mailboxes[0], "After removal");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[0], "After removal"); }, "the next lead", log, 20s));

  // Graph missed a change and says so: the change itself is never notified, the sync finds it.
  ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"paused":true})").status, 200);
  const auto notified = sim_stat("notifications");
  add_contact(mailboxes[2], "Missed by Graph");
  ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/lifecycle",
                         R"({"event":"missed","mailbox":")" + mailboxes[2] + "\"}").status, 200);
  ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"paused":false})").status, 200);
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[2], "Missed by Graph"); },
                               "the missed change in the CRM", log, 20s));
  EXPECT_EQ(sim_stat("notifications"), notified) << "only the lifecycle event told of it";

  // Reauthorization: the subscriptions are renewed at once and stay.
  ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/lifecycle", R"({"event":"reauthorizationRequired"})").status, 200);
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("lifecycle_event=reauthorizationRequired") != std::string::npos; },
                               "the reauthorization heard", log));
  add_contact(mailboxes[1], "After reauthorization");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[1], "After reauthorization"); }, "the last lead",
                               log, 20s));
  EXPECT_EQ(sim_stat("created"), 8);

  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_mailboxes_changes{mode=\"notifications\"} 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("exsync_graph_subscriptions_total{outcome=\"created\"} 8"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("exsync_graph_notifications_total{outcome=\"refused\"} 0"), std::string::npos) << metrics;
  ASSERT_TRUE(daemon.stop());
  expect_catalogued(daemon.log());
  EXPECT_NE(daemon.log().find("event=graph.subscription.renewed"), std::string::npos);
}

TEST_F(GraphNotificationsTest, RandomChangesAmongLifecycleEventsLostSubscriptionsAndOutagesAllReachTheCrmOnce) {
  // A seed-reproducible mix of changes in random mailboxes, removed subscriptions, missed
  // changes, reauthorizations, subscriptions Graph forgets without a word and deliveries that do
  // not reach the daemon for a while. However they interleave, every change reaches the CRM
  // (polling is ten minutes away: only notifications, lifecycle events and renewals bring them),
  // none twice, and each mailbox folder ends with exactly one subscription.
  const unsigned seed = 20261203;
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  test::CrmApi api(sim_);
  ASSERT_TRUE(test::eventually([&] { return all_notified(api); }, "every mailbox on notifications", log));
  const auto mailboxes = sim_.mailboxes();
  const auto policy = json::parse(sim_.control("PUT", "/sim/graph/subscriptions", "{}").body);
  const std::string deliver_to(policy.at("deliver_to").as_string());
  std::map<std::string, std::vector<std::string>> made;
  std::map<std::string, int> ops;
  auto add = [&](int step) {  // returns the mailbox it chose
    const auto& mb = mailboxes[rng() % mailboxes.size()];
    const auto name = "Lead " + std::to_string(step);
    add_contact(mb, name);
    made[mb].push_back(name);
    return mb;
  };
  auto lifecycle = [&](const std::string& event, const std::string& mb) {
    ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/lifecycle",
                           R"({"event":")" + event + R"(","mailbox":")" + mb + "\"}").status, 200);
  };
  for (int step = 0; step < 30; ++step) {
    const auto& mb = mailboxes[rng() % mailboxes.size()];
    switch (rng() % 9) {
      case 0:
        ++ops["removed"];
        lifecycle("subscriptionRemoved", mb);
        break;
      case 1:  // a change Graph never notifies, then says it missed some
        ++ops["missed"];
        ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"paused":true})").status, 200);
        lifecycle("missed", add(step));
        ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"paused":false})").status, 200);
        break;
      case 2:
        ++ops["reauthorize"];
        lifecycle("reauthorizationRequired", mb);
        break;
      case 3:
        ++ops["forget"];
        ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/forget").status, 200);
        break;
      case 4: {  // deliveries fail for a while, once every subscription stands (a validation would fail too)
        ++ops["outage"];
        ASSERT_TRUE(test::eventually([&] { return subscriptions().at("subscriptions").as_array().size() == 6 && all_notified(api); },
                                     "every subscription standing", log));
        ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"deliver_to":"http://127.0.0.1:1/"})").status, 200);
        add(step);
        std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 800));
        ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"deliver_to":")" + deliver_to + "\"}").status, 200);
        break;
      }
      default:
        ++ops["change"];
        add(step);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 400));
  }
  std::string mix;
  for (const auto& [op, n] : ops) mix += " " + op + "=" + std::to_string(n);
  SCOPED_TRACE("operations:" + mix);
  ASSERT_TRUE(test::crm_has_each_once(api, mailboxes, made, 3, log));
  ASSERT_TRUE(test::eventually([&] { return subscriptions().at("subscriptions").as_array().size() == 6 && all_notified(api); },
                               "one subscription per mailbox folder, every mailbox on notifications", log));
  ASSERT_TRUE(daemon.stop());
  expect_catalogued(daemon.log());
}

// Graph may notify a new subscription before its POST's answer reaches the daemon: such a
// notification, with the clientState of a watch still being subscribed, is that watch's.
TEST_F(GraphNotificationsTest, ANotificationBeforeItsSubscriptionsAnswerIsTaken) {
  ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"notify_before_answer":true})").status, 200);
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notifications.ready subscriptions=6") != std::string::npos; },
                               "the subscriptions", log));
  EXPECT_EQ(sim_stat("notifications"), 6) << "one early notification per subscription, each answered 2xx";
  test::CrmApi api(sim_);
  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_graph_notifications_total{outcome=\"change\"} 6"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("exsync_graph_notifications_total{outcome=\"refused\"} 0"), std::string::npos) << metrics;
  EXPECT_EQ(daemon.log().find("event=graph.notification.refused"), std::string::npos) << daemon.log();
  ASSERT_TRUE(daemon.stop());
}

TEST_F(GraphNotificationsTest, ANotificationThatIsNotOfItsSubscriptionIsRefused) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notifications.ready") != std::string::npos; },
                               "the subscriptions", log));
  const auto mailboxes = sim_.mailboxes();
  std::string victim_id, other_state;
  const auto listed = subscriptions();
  for (const auto& s : listed.at("subscriptions").as_array()) {
    const auto& o = s.as_object();
    if (o.at("mailbox").as_string() == mailboxes[0] && o.at("resource").as_string().ends_with("/contacts"))
      victim_id = std::string(o.at("id").as_string());
    if (o.at("mailbox").as_string() == mailboxes[1] && o.at("resource").as_string().ends_with("/contacts"))
      other_state = std::string(o.at("client_state").as_string());
  }
  ASSERT_FALSE(victim_id.empty());
  ASSERT_FALSE(other_state.empty());
  EXPECT_NE(other_state.find(mailboxes[1]), 0u) << "a clientState does not give away what it guards";

  // Graph's validation handshake: the token back, decoded, as text/plain.
  const std::string token = "Validation: Testing client application reachability &=+%";
  auto [vstatus, vbody] = post_to_daemon("?validationToken=" + test::url_segment(token), "");
  EXPECT_EQ(vstatus, 200);
  EXPECT_EQ(vbody, token);

  const auto syncs_before = count(daemon.log(), "event=sync.folder.done mailbox=" + mailboxes[0]);
  // Another mailbox's clientState for this subscription, then an unknown subscription.
  json::object forged{{"value", json::array{json::object{{"subscriptionId", victim_id},
                                                          {"clientState", other_state},
                                                          {"changeType", "created"},
                                                          {"resource", "Users/x/Contacts/y"}},
                                             json::object{{"subscriptionId", "00000000-0000-0000-0000-000000000000"},
                                                          {"clientState", other_state},
                                                          {"changeType", "created"}}}}};
  auto [status, body] = post_to_daemon("", json::serialize(forged));
  EXPECT_EQ(status, 202) << body;
  EXPECT_EQ(post_to_daemon("", "not json").first, 400);
  EXPECT_EQ(post_to_daemon("", R"({"value":"nothing"})").first, 400);
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notification.refused reason=client_state") != std::string::npos; },
                               "the forgery refused", log));
  test::CrmApi api(sim_);
  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_graph_notifications_total{outcome=\"refused\"} 2"), std::string::npos) << metrics;
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(count(daemon.log(), "event=sync.folder.done mailbox=" + mailboxes[0]), syncs_before)
      << "a refused notification makes no mailbox due";
  ASSERT_TRUE(daemon.stop());
}

TEST_F(GraphNotificationsTest, ARestartAdoptsTheSubscriptionsAndAFailedValidationFallsBackToPolling) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notifications.ready subscriptions=6") != std::string::npos; },
                               "the subscriptions", log));
  ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"max_lifetime_seconds":600})").status, 200);
  ASSERT_TRUE(test::eventually([&] { return sim_stat("renewed") >= 6; }, "lifetimes of ten minutes", log));
  daemon.kill();
  daemon.start();
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=graph.notifications.ready subscriptions=6 failed=0 adopted=6") != std::string::npos; },
                               "the subscriptions adopted", log));
  EXPECT_EQ(sim_stat("created"), 6) << "a restart makes no new subscriptions";
  test::CrmApi api(sim_);
  const auto mailboxes = sim_.mailboxes();
  add_contact(mailboxes[2], "After the restart");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[2], "After the restart"); }, "the lead", log, 20s));

  // Reauthorization with lifetimes of three seconds again: renewed at once, then every two.
  const auto renewed = sim_stat("renewed");
  ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"max_lifetime_seconds":3})").status, 200);
  ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/lifecycle", R"({"event":"reauthorizationRequired"})").status, 200);
  ASSERT_TRUE(test::eventually([&] { return sim_stat("renewed") >= renewed + 6; }, "every subscription reauthorized", log));

  // Graph forgets every subscription, and the URL no longer answers its validation: each
  // mailbox finds the loss at its next renewal, falls back to polling and says why.
  ASSERT_EQ(sim_.control("PUT", "/sim/graph/subscriptions", R"({"deliver_to":"http://127.0.0.1:1/v1/graph/notifications"})").status, 200);
  ASSERT_EQ(sim_.control("POST", "/sim/graph/subscriptions/forget").status, 200);
  ASSERT_TRUE(test::eventually([&] {
    for (const auto& mb : mailboxes)
      if (test::mailbox_sync(api, mb).at("changes") != "polling") return false;
    return true;
  }, "every mailbox on polling", log, 60s));
  EXPECT_NE(daemon.log().find("event=graph.subscription.lost"), std::string::npos);
  EXPECT_NE(daemon.log().find("event=graph.subscription.failed mailbox="), std::string::npos);
  EXPECT_NE(daemon.log().find("operation=subscribe code=InvalidRequest"), std::string::npos) << daemon.log();
  EXPECT_NE(daemon.log().find("event=graph.mailbox.polling"), std::string::npos);
  EXPECT_LT(test::mailbox_sync(api, mailboxes[0]).at("poll_interval_seconds").as_int64(), 1800)
      << "polled as without notifications, no longer at the safety interval";
  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_mailboxes_changes{mode=\"polling\"} 3"), std::string::npos) << metrics;
  ASSERT_TRUE(daemon.stop());
  expect_catalogued(daemon.log());
}

}  // namespace
}  // namespace exsync
