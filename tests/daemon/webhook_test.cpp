// Webhooks to the CRM against the simulator's receiver (tests/sim/webhook_receiver.hpp), which
// checks every delivery as a Standard Webhooks library would: the CRM gets every entry of the
// changes feed, signed, in feed order per mailbox, across a SIGKILL and an endpoint that fails
// for a while, and can replay from a cursor.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <set>
#include <sstream>

#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::poll_every_second(sim_.config());
    test::edit_config(sim_.config(), "[log]\n",
                      "[webhooks]\nurl = \"" + sim_.base_url() +
                          "/crm/webhook\"\nsecret_file = \"webhook.secret\"\nfailing_after = 3\nmax_retry_seconds = 4\n"
                          "max_in_flight = 1\n\n[log]\n");
  }

  struct Delivery {
    std::string id, mailbox;
    std::int64_t seq = 0;
    bool verified = false, repeat = false;
    int status = 0;
  };
  std::vector<Delivery> deliveries() {
    std::vector<Delivery> out;
    std::istringstream in(sim_.control("GET", "/sim/webhooks").body);
    for (std::string line; std::getline(in, line);) {
      auto o = json::parse(line).as_object();
      Delivery d;
      d.id = std::string(o.at("webhook_id").as_string());
      d.verified = o.at("verified").as_bool();
      d.repeat = o.at("repeat").as_bool();
      d.status = static_cast<int>(o.at("status").as_int64());
      const auto& data = o.at("body").at("data").as_object();
      d.mailbox = std::string(data.at("mailbox").as_string());
      d.seq = data.at("seq").as_int64();
      out.push_back(std::move(d));
    }
    return out;
  }

  // The feed's seqs of each mailbox, as the CRM reads them.
  std::map<std::string, std::vector<std::int64_t>> feed(test::CrmApi& api) {
    std::map<std::string, std::vector<std::int64_t>> out;
    for (const auto& mb : sim_.mailboxes()) {
      auto page = api.call("GET", "/v1/mailboxes/" + test::url_segment(mb) + "/changes?cursor=0&limit=5000");
      const auto parsed = json::parse(page.body);
      for (const auto& c : parsed.at("changes").as_array()) out[mb].push_back(c.at("seq").as_int64());
    }
    return out;
  }

  // Each mailbox's seqs the receiver took (answered 2xx), in the order it first took them.
  std::map<std::string, std::vector<std::int64_t>> taken() {
    std::map<std::string, std::vector<std::int64_t>> out;
    std::set<std::string> ids;
    for (const auto& d : deliveries())
      if (d.status == 204 && ids.insert(d.id).second) out[d.mailbox].push_back(d.seq);
    return out;
  }

  void add_contacts(int n) {
    for (int i = 0; i < n; ++i) {
      const auto mailboxes = sim_.mailboxes();
      const auto mb = mailboxes[static_cast<std::size_t>(i) % mailboxes.size()];
      json::object body{{"display_name", "Lead " + std::to_string(++made_)}, {"company", "Acme"}};
      ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mb) + "/contacts", json::serialize(body)).status, 201);
    }
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 4, .events = 0}};
  int made_ = 0;
};

TEST_F(WebhookTest, EveryChangeReachesTheCrmSignedInOrderAcrossAKillAndAnOutage) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round", log));
  test::CrmApi api(sim_);
  // A new endpoint starts at the feed's head; the CRM asks for everything since the beginning.
  EXPECT_EQ(api.call("POST", "/v1/webhooks/nope/replay", R"({"cursor":0})").status, 404);
  EXPECT_EQ(api.call("POST", "/v1/webhooks/crm/replay", R"({"cursor":-1})").status, 422);
  ASSERT_EQ(api.call("POST", "/v1/webhooks/crm/replay", R"({"cursor":0})").status, 202);

  add_contacts(6);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  daemon.kill();  // deliveries and syncs cut off wherever they are
  add_contacts(6);
  daemon.start();

  // The CRM's endpoint fails for three deliveries in a row: failing, then taken again. One
  // mailbox is delivered at a time (max_in_flight = 1): with two at once, a delivery taken between
  // two refused ones would reset the count, and the endpoint would rightly never be marked failing.
  ASSERT_EQ(sim_.control("PUT", "/sim/webhooks/fault", R"({"status":503,"count":3})").status, 204);
  add_contacts(4);
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=webhook.endpoint.failing") != std::string::npos; },
                               "the endpoint marked failing", log));
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=webhook.endpoint.recovered") != std::string::npos; },
                               "the endpoint recovered", log));

  // Everything in the feed reached the CRM, each entry once as far as the CRM can tell (a repeat
  // carries the id it was taken under), in feed order per mailbox, every delivery signed.
  ASSERT_TRUE(test::eventually([&] {
    const auto want = feed(api);
    return !want.empty() && taken() == want;
  }, "every feed entry delivered", log)) << "taken and feed differ";
  const auto all = deliveries();
  int repeats = 0, refused = 0;
  for (const auto& d : all) {
    EXPECT_TRUE(d.verified) << d.id << ": the receiver could not verify it";
    EXPECT_EQ(d.id.substr(d.id.rfind('_') + 1), std::to_string(d.seq)) << "the id names its entry";
    repeats += d.repeat;
    refused += d.status == 503;
  }
  EXPECT_EQ(refused, 3);
  const auto status = json::parse(api.call("GET", "/v1/webhooks").body).at("webhooks").as_array();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].at("state"), "ok");
  EXPECT_EQ(status[0].at("failures_in_a_row"), 0);
  const auto metrics = api.call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("exsync_webhook_failing{endpoint=\"crm\"} 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("exsync_webhook_deliveries_total{endpoint=\"crm\",result=\"failed\"} 3"), std::string::npos) << metrics;

  // A replay from a cursor delivers what follows it again, under the same ids.
  const auto before = all.size();
  const auto first_mailbox = feed(api).begin()->second;
  const auto from = first_mailbox[first_mailbox.size() - 2];
  ASSERT_EQ(api.call("POST", "/v1/webhooks/crm/replay", json::serialize(json::object{{"cursor", from}})).status, 202);
  ASSERT_TRUE(test::eventually([&] {
    int again = 0;
    const auto now = deliveries();
    for (std::size_t i = before; i < now.size(); ++i) again += now[i].repeat && now[i].status == 204;
    return again >= 1;
  }, "the replay delivered", log));
  ASSERT_TRUE(daemon.stop());
}

TEST_F(WebhookTest, AWebhookWithoutAUsableSecretStopsStartUp) {
  test::write_file(sim_.dir() / "webhook.secret", "not a secret\n");
  ::chmod((sim_.dir() / "webhook.secret").c_str(), 0600);
  auto r = test::run_process({test::exsyncd_path().string(), "once", "--config", sim_.config().string()});
  EXPECT_EQ(r.exit_code, 78) << r.err;
  EXPECT_NE(r.err.find("webhooks.secret_file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace exsync
