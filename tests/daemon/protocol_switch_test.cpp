// A tenant switched from EWS to Microsoft Graph on the same store: the day Exchange Online blocks
// EWS, the CRM's writes pile up; the operator changes [tenant] protocol and restarts. Every
// local id stays, nothing is created again in Exchange or reported to the CRM as new, and the
// writes that waited land once.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <algorithm>
#include <set>

#include "graph_endpoint.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

class ProtocolSwitchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::edit_config(sim_.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
    test::poll_every_second(sim_.config());
  }
  void switch_to_graph() {
    test::edit_config(sim_.config(), "[tenant]\n",
                      "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
  }
  // The simulator's contacts of `mailbox` named `name`.
  int named(const std::string& mailbox, const std::string& name) {
    int n = 0;
    for (const auto& [id, line] : sim_.contacts(mailbox))
      if (json::parse(line).at("display_name") == name.c_str()) ++n;
    return n;
  }
  std::string feed(const std::string& mailbox, std::int64_t cursor) {
    return api_.call("GET", "/v1/mailboxes/" + test::url_segment(mailbox) + "/changes?cursor=" + std::to_string(cursor))
        .body;
  }
  bool outbox_empty(const std::string& mailbox) {
    auto r = api_.call("GET", "/v1/mailboxes/" + test::url_segment(mailbox) + "/outbox");
    return r.status == 200 && json::parse(r.body).at("outbox").as_array().empty();
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 20, .events = 0}};
  test::CrmApi api_{sim_};
};

TEST_F(ProtocolSwitchTest, EwsToGraphKeepsEveryIdCreatesNothingAndLandsEveryPendingWriteOnce) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  const auto mb = sim_.mailboxes()[0];
  const auto base = "/v1/mailboxes/" + test::url_segment(mb);
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round over EWS", log));
  std::map<std::string, std::map<std::string, std::string>> before;  // mailbox -> local id -> EWS id
  std::map<std::string, std::int64_t> cursors;
  for (const auto& m : sim_.mailboxes()) {
    for (const auto& [ews_id, line] : test::stored_items(sim_.config(), m))
      before[m][std::string(json::parse(line).at("id").as_string())] = ews_id;
    ASSERT_EQ(before[m].size(), 20u) << m;
    cursors[m] = json::parse(feed(m, 0)).at("cursor").as_int64();
  }

  // Exchange Online blocks EWS for the tenant; the CRM goes on writing, and an agent edits a
  // contact in Outlook.
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"ews_blocked":true})").status, 204);
  auto it = before[mb].begin();
  const auto [edited, edited_ews] = *it++;
  const auto [removed, removed_ews] = *it++;
  const auto [outlook, outlook_ews] = *it++;
  auto created = api_.call("POST", base + "/contacts", R"({"display_name":"Switch Buyer"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string created_id(json::parse(created.body).at("id").as_string());
  ASSERT_EQ(api_.call("PATCH", base + "/contacts/" + edited, R"({"job_title":"Written after the switch"})").status, 200);
  ASSERT_EQ(api_.call("DELETE", base + "/contacts/" + removed).status, 204);
  auto queued = api_.call("POST", base + "/messages", R"({"to":["ann@example.com"],"subject":"Queued before the switch","text":"x"})");
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string message_id(json::parse(queued.body).at("id").as_string());
  ASSERT_EQ(sim_.control("PATCH", "/sim/mailboxes/" + test::url_segment(mb) + "/contacts/" + test::url_segment(outlook_ews),
                         R"({"company":"Edited in Outlook"})").status, 200);
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.mailbox.failed") != std::string::npos; },
                               "a pass refused by the blocked EWS", log));
  EXPECT_EQ(named(mb, "Switch Buyer"), 0);
  ASSERT_TRUE(daemon.stop());
  const int ews_syncs = sim_.operation_count("SyncFolderItems");

  switch_to_graph();
  daemon.start();
  ASSERT_TRUE(test::eventually([&] {
    return outbox_empty(mb) && named(mb, "Switch Buyer") == 1 && !sim_.contacts(mb).contains(removed_ews);
  }, "the writes that waited, landed over Graph", log));
  ASSERT_TRUE(test::eventually([&] {
    auto c = api_.call("GET", base + "/contacts/" + outlook);
    return c.body.find("Edited in Outlook") != std::string::npos;
  }, "the Outlook edit, read over Graph", log));
  ASSERT_TRUE(test::eventually([&] {
    return api_.call("GET", base + "/messages/" + message_id).body.find("\"sent\"") != std::string::npos;
  }, "the message queued before the switch, sent over Graph", log));
  const auto sent = sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb) + "/sent").body;
  EXPECT_EQ(std::count(sent.begin(), sent.end(), '\n'), 1) << sent;
  EXPECT_NE(sent.find("Queued before the switch"), std::string::npos) << sent;
  EXPECT_EQ(sim_.graph_operation_count("send"), 1);
  EXPECT_EQ(sim_.operation_count("SyncFolderItems"), ews_syncs) << "no EWS request after the switch";
  for (const auto& m : sim_.mailboxes())
    EXPECT_NE(daemon.log().find("event=sync.ids.translated mailbox=" + m), std::string::npos) << daemon.log();
  EXPECT_EQ(daemon.log().find("untranslated=1"), std::string::npos) << daemon.log();

  for (const auto& m : sim_.mailboxes()) {
    // Every local id is the same item, now under its Graph id; the CRM's own create is the one
    // new item, its deletion the one gone.
    std::map<std::string, std::string> after;
    for (const auto& [remote_id, line] : test::stored_items(sim_.config(), m))
      after[std::string(json::parse(line).at("id").as_string())] = remote_id;
    auto want = before[m];
    if (m == mb) {
      want.erase(removed);
      EXPECT_TRUE(after.contains(created_id));
      after.erase(created_id);
    }
    ASSERT_EQ(after.size(), want.size()) << m;
    for (const auto& [local, ews_id] : want) EXPECT_EQ(after[local], sim::graph_id(ews_id)) << m << " " << local;

    // The feed since the switch: the Outlook edit, and nothing reported as created or deleted.
    const auto entries = json::parse(feed(m, cursors[m])).at("changes").as_array();
    std::multiset<std::string> kinds;
    for (const auto& e : entries) {
      kinds.insert(std::string(e.at("kind").as_string()));
      EXPECT_EQ(e.at("kind"), "updated") << json::serialize(e);
      if (m == mb) EXPECT_EQ(e.at("id"), outlook.c_str()) << json::serialize(e);
    }
    EXPECT_EQ(kinds.size(), m == mb ? 1u : 0u) << m;
  }
  // Exchange holds each item once: nothing the daemon wrote before is there twice.
  EXPECT_EQ(sim_.contacts(mb).size(), 20u);
  auto patched = api_.call("GET", base + "/contacts/" + edited);
  EXPECT_NE(patched.body.find("Written after the switch"), std::string::npos) << patched.body;
  EXPECT_NE(sim_.contacts(mb).at(edited_ews).find("Written after the switch"), std::string::npos);

  ASSERT_TRUE(daemon.stop());
}

}  // namespace
}  // namespace exsync
