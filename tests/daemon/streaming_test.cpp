// EWS streaming notifications end to end: the real daemon against the simulator's streaming
// subscriptions (tests/sim/ews_streaming.hpp), with polling set so rare (10 minutes) that only a
// notification explains a change reaching the CRM within the test's time. Subscriptions the
// server loses are renewed; a mailbox whose subscription is refused falls back to polling and
// says so in the log, /v1/mailboxes and /metrics.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <random>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

class StreamingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::edit_config(sim_.config(), "interval_seconds = 10", "interval_seconds = 600");
    test::edit_config(sim_.config(), "streaming = false", "streaming = true\nstreaming_connection_minutes = 1");
    // Heartbeats every half second and a "minute" of three: connections end and are opened
    // again many times within the test.
    ASSERT_EQ(sim_.control("PUT", "/sim/streaming", R"({"heartbeat_ms":500,"minute_ms":3000})").status, 204);
  }

  json::object streaming_stats() { return json::parse(sim_.control("GET", "/sim/stats").body).at("streaming").as_object(); }

  std::string add_contact(const std::string& mailbox, const std::string& name) {
    json::object body{{"display_name", name}, {"company", "Acme"}};
    auto r = sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mailbox) + "/contacts", json::serialize(body));
    EXPECT_EQ(r.status, 201) << r.body;
    return name;
  }

  std::string changes_mode(test::CrmApi& api, const std::string& mailbox) {
    auto s = test::mailbox_sync(api, mailbox);
    return s.contains("changes") ? std::string(s.at("changes").as_string()) : std::string();
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 3, .contacts = 3, .events = 0}};
};

TEST_F(StreamingTest, AChangeReachesTheCrmOnANotificationAndLostSubscriptionsAreRenewed) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round", log));
  ASSERT_TRUE(test::eventually([&] { return streaming_stats().at("open_connections").as_int64() == 1; },
                               "one streaming connection for the three mailboxes", log));
  test::CrmApi api(sim_);
  const auto mailboxes = sim_.mailboxes();
  ASSERT_TRUE(test::eventually([&] {
    for (const auto& mb : mailboxes)
      if (changes_mode(api, mb) != "streaming") return false;
    return true;
  }, "every mailbox streaming", log));
  const auto status = test::mailbox_sync(api, mailboxes[0]);
  EXPECT_EQ(status.at("poll_interval_seconds"), 1800) << "the poll is only a safety net";

  // A lead added on the phone reaches the CRM with the next notification, not the next poll.
  const auto first = add_contact(mailboxes[1], "Lead on the call");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[1], first); }, "the new lead in the CRM", log,
                               std::chrono::seconds(20)));

  // Connections end every "minute" and are opened again with the same subscriptions.
  ASSERT_TRUE(test::eventually([&] { return streaming_stats().at("connections").as_int64() >= 3; },
                               "connections renewed", log));
  auto st = streaming_stats();
  EXPECT_EQ(st.at("subscribes").as_int64(), 3) << "a renewed connection keeps its subscriptions";
  EXPECT_EQ(st.at("without_affinity").as_int64(), 0) << "every Subscribe and GetStreamingEvents carries its affinity";
  EXPECT_EQ(st.at("refused_connections").as_int64(), 0);

  // The server loses every subscription: each is renewed, and changes flow again.
  ASSERT_EQ(sim_.control("POST", "/sim/streaming/expire").status, 204);
  ASSERT_TRUE(test::eventually([&] { return streaming_stats().at("subscribes").as_int64() == 6; },
                               "the lost subscriptions renewed", log));
  EXPECT_NE(daemon.log().find("event=stream.subscription.lost"), std::string::npos);
  const auto second = add_contact(mailboxes[2], "Second lead");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[2], second); }, "the second lead in the CRM", log,
                               std::chrono::seconds(20)));

  // A load balancer cuts the connection: it is opened again, nothing is lost.
  ASSERT_EQ(sim_.control("POST", "/sim/streaming/drop").status, 204);
  const auto third = add_contact(mailboxes[0], "Third lead");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[0], third); }, "the third lead in the CRM", log,
                               std::chrono::seconds(20)));

  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_mailboxes_changes{mode=\"streaming\"} 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("exsync_stream_subscriptions_total{outcome=\"lost\"} 3"), std::string::npos) << metrics;
  ASSERT_TRUE(daemon.stop());
  EXPECT_EQ(json::parse(sim_.control("GET", "/sim/stats").body).at("schema_violations"), 0);
}

TEST_F(StreamingTest, RandomChangesAmongLostSubscriptionsAndCutConnectionsAllReachTheCrmOnce) {
  // A seed-reproducible mix of changes in random mailboxes, subscriptions the server forgets and
  // connections cut, at random moments. However they interleave, every change reaches the CRM
  // (polling is ten minutes away, so only notifications and renewals can bring them), and none
  // twice.
  const unsigned seed = 20261203;
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return streaming_stats().at("open_connections").as_int64() == 1; },
                               "the streaming connection", log));
  test::CrmApi api(sim_);
  const auto mailboxes = sim_.mailboxes();
  std::map<std::string, std::vector<std::string>> made;
  for (int step = 0; step < 24; ++step) {
    switch (rng() % 5) {
      case 0:
        ASSERT_EQ(sim_.control("POST", "/sim/streaming/expire").status, 204);
        break;
      case 1:
        ASSERT_EQ(sim_.control("POST", "/sim/streaming/drop").status, 204);
        break;
      default: {
        const auto& mb = mailboxes[rng() % mailboxes.size()];
        made[mb].push_back(add_contact(mb, "Lead " + std::to_string(step)));
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 400));
  }
  ASSERT_TRUE(test::crm_has_each_once(api, mailboxes, made, 3, log));
  ASSERT_TRUE(daemon.stop());
  EXPECT_EQ(json::parse(sim_.control("GET", "/sim/stats").body).at("schema_violations"), 0);
}

TEST_F(StreamingTest, AMailboxWhoseSubscriptionIsRefusedFallsBackToPollingAndSaysSo) {
  const auto mailboxes = sim_.mailboxes();
  // The server refuses the first mailbox's subscriptions (its budget is spent).
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews",
                         json::serialize(json::object{{"kind", "server_busy"}, {"operation", "Subscribe"},
                                                      {"mailbox", mailboxes[0]}, {"count", -1}, {"backoff_ms", 1000}}))
                .status,
            204);
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] {
    return daemon.log().find("event=stream.mailbox.polling mailbox=" + mailboxes[0]) != std::string::npos;
  }, "the refused mailbox on polling", log));
  EXPECT_NE(daemon.log().find("event=stream.subscribe.failed mailbox=" + mailboxes[0]), std::string::npos);
  test::CrmApi api(sim_);
  ASSERT_TRUE(test::eventually([&] {
    return changes_mode(api, mailboxes[1]) == "streaming";
  }, "the others streaming", log));
  const auto refused = test::mailbox_sync(api, mailboxes[0]);
  EXPECT_EQ(refused.at("changes"), "polling");
  EXPECT_EQ(refused.at("poll_interval_seconds"), 600);
  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_mailboxes_changes{mode=\"polling\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("exsync_mailboxes_changes{mode=\"streaming\"} 2"), std::string::npos) << metrics;
  // The others still hear their changes at once.
  const auto lead = add_contact(mailboxes[1], "Still streaming");
  ASSERT_TRUE(test::eventually([&] { return test::crm_has_contact(api, mailboxes[1], lead); }, "the lead in the CRM", log,
                               std::chrono::seconds(20)));
  ASSERT_TRUE(daemon.stop());
  ASSERT_EQ(sim_.control("DELETE", "/sim/faults/ews").status, 204);
}

TEST_F(StreamingTest, AConnectionExchangeRefusesPutsItsGroupOnPolling) {
  // No hanging connection left (ErrorExceededConnectionCount): the subscriptions stand, but no
  // notification can flow, so the mailboxes are polled, and say why.
  ASSERT_EQ(sim_.control("PUT", "/sim/streaming", R"({"connections_per_account":0})").status, 204);
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] {
    return daemon.log().find("event=stream.mailbox.polling mailbox=" + sim_.mailboxes()[0] +
                             " reason=ErrorExceededConnectionCount") != std::string::npos;
  }, "the group on polling with Exchange's reason", log));
  EXPECT_GE(streaming_stats().at("refused_connections").as_int64(), 1);
  test::CrmApi api(sim_);
  for (const auto& mb : sim_.mailboxes()) EXPECT_EQ(changes_mode(api, mb), "polling") << mb;
  ASSERT_TRUE(daemon.stop());
}

}  // namespace
}  // namespace exsync
