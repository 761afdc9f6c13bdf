// `exsyncd` on a tenant configured for Microsoft Graph ([tenant] protocol = "graph", app-only
// access): the same simulated tenant, reached over Graph instead of EWS. What the CRM sees and
// writes is what it would over EWS (the calendar: graph_calendar_test.cpp).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "exsync/crypto/base64.hpp"
#include "graph_endpoint.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

class GraphDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::edit_config(sim_.config(), "[tenant]\n",
                      "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
    test::edit_config(sim_.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
    test::poll_every_second(sim_.config());
  }
  // The simulator's contacts of `mailbox` keyed by their Graph ids, as the store keys them.
  std::map<std::string, json::object> in_exchange(const std::string& mailbox) {
    std::map<std::string, json::object> out;
    for (const auto& [ews_id, line] : sim_.contacts(mailbox)) {
      auto o = test::comparable_contact(line);
      o.erase("ews_id");
      o.erase("change_key");
      out[sim::graph_id(ews_id)] = std::move(o);
    }
    return out;
  }
  std::map<std::string, json::object> in_store(const std::string& mailbox) {
    std::map<std::string, json::object> out;
    for (const auto& [id, line] : test::stored_items(sim_.config(), mailbox)) {
      auto o = test::comparable_contact(line);
      EXPECT_EQ(o.at("ews_id"), json::parse(line).at("remote_id")) << "ews_id is remote_id's alias";
      o.erase("ews_id");
      o.erase("change_key");
      out[id] = std::move(o);
    }
    return out;
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 30, .events = 2}};
};

TEST_F(GraphDaemonTest, OnceStoresEveryContactOverGraphAndNotOneEwsRequestIsMade) {
  auto r = test::run_process({test::exsyncd_path().string(), "once", "--config", sim_.config().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("access=app protocol=graph"), std::string::npos) << r.err;
  for (const auto& mb : sim_.mailboxes()) {
    const auto want = in_exchange(mb);
    const auto got = in_store(mb);
    EXPECT_EQ(got.size(), want.size()) << mb;
    for (const auto& [id, contact] : want) {
      auto it = got.find(id);
      ASSERT_NE(it, got.end()) << mb << ": missing " << json::serialize(contact);
      std::string differs;
      for (const auto& m : contact)
        if (!it->second.contains(m.key()) || it->second.at(m.key()) != m.value())
          differs += " " + std::string(m.key()) + "=" + json::serialize(m.value()) + " stored " +
                     (it->second.contains(m.key()) ? json::serialize(it->second.at(m.key())) : "-");
      for (const auto& m : it->second)
        if (!contact.contains(m.key())) differs += " extra " + std::string(m.key());
      EXPECT_EQ(differs, "") << mb;
    }
  }
  EXPECT_EQ(sim_.operation_count("SyncFolderItems"), 0);
  EXPECT_EQ(sim_.operation_count("GetItem"), 0);
}

TEST_F(GraphDaemonTest, CrmWritesAndOutlookEditsGoBothWays) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  test::CrmApi api(sim_);
  const auto mb = sim_.mailboxes()[0];
  const auto base = "/v1/mailboxes/" + test::url_segment(mb);
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round", log));

  auto named = [&](const std::string& name) -> std::optional<json::object> {
    for (const auto& [id, line] : sim_.contacts(mb)) {
      auto o = json::parse(line).as_object();
      if (o.at("display_name") == name.c_str()) return o;
    }
    return std::nullopt;
  };
  auto created = api.call("POST", base + "/contacts", R"({"display_name":"Graph Buyer","job_title":"Buyer"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(json::parse(created.body).at("id").as_string());
  ASSERT_TRUE(test::eventually([&] { return named("Graph Buyer").has_value(); }, "the CRM's contact in Exchange", log));
  auto patched = api.call("PATCH", base + "/contacts/" + id, R"({"job_title":"Seller"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  ASSERT_TRUE(test::eventually([&] {
    auto c = named("Graph Buyer");
    return c && c->contains("job_title") && c->at("job_title") == "Seller";
  }, "the CRM's edit in Exchange", log));

  // Outlook's edit comes back to the CRM, on the same local id.
  const std::string ews_id(named("Graph Buyer")->at("ews_id").as_string());
  ASSERT_EQ(sim_.control("PATCH", "/sim/mailboxes/" + test::url_segment(mb) + "/contacts/" + test::url_segment(ews_id),
                         R"({"company":"Outlook Realty"})").status, 200);
  ASSERT_TRUE(test::eventually([&] {
    auto a = api.call("GET", base + "/contacts/" + id);
    return a.status == 200 && a.body.find("Outlook Realty") != std::string::npos;
  }, "Outlook's edit in the CRM", log));
  auto item = json::parse(api.call("GET", base + "/contacts/" + id).body).as_object();
  EXPECT_EQ(item.at("remote_id"), sim::graph_id(ews_id).c_str()) << "the store keeps Graph's id";

  ASSERT_EQ(api.call("DELETE", base + "/contacts/" + id).status, 204);
  ASSERT_TRUE(test::eventually([&] { return !named("Graph Buyer"); }, "the CRM's deletion in Exchange", log));

  ASSERT_TRUE(daemon.stop());
}

// Mail over Graph: a tagged draft, its large attachment through an upload session, then the
// send; the message is in Sent Items once, with every attachment, and no draft is left.
TEST_F(GraphDaemonTest, MailGoesOutOnceIntoSentItemsWithALargeAttachmentUploadedInChunks) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  test::CrmApi api(sim_);
  const auto mb = sim_.mailboxes()[1];
  const auto seg = test::url_segment(mb);
  // 4.5 MB: past the 3 MB Graph takes inline, so it goes in chunks of 3.2 MB.
  std::string big(4'500'000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 7919) & 0xff);
  const json::object request{
      {"to", json::array{"ann@example.com"}},
      {"cc", json::array{json::object{{"name", "Bo"}, {"address", "bo@example.com"}}}},
      {"subject", "Disclosures for 12 Elm St"},
      {"html", "<p>Attached.</p>"},
      {"attachments", json::array{json::object{{"name", "small.txt"}, {"content_type", "text/plain"},
                                               {"content_base64", crypto::base64_encode("hello")}},
                                  json::object{{"name", "disclosures.pdf"}, {"content_type", "application/pdf"},
                                               {"content_base64", crypto::base64_encode(big)}}}}};
  auto queued = api.call("POST", "/v1/mailboxes/" + seg + "/messages", json::serialize(request));
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string id(json::parse(queued.body).at("id").as_string());
  ASSERT_TRUE(test::eventually([&] {
    return api.call("GET", "/v1/mailboxes/" + seg + "/messages/" + id).body.find("\"sent\"") != std::string::npos;
  }, "the message sent", [&] { return daemon.log(); }));
  const auto sent = sim_.control("GET", "/sim/mailboxes/" + seg + "/sent").body;
  std::vector<json::object> copies;
  for (std::size_t at = 0, nl; (nl = sent.find('\n', at)) != std::string::npos; at = nl + 1)
    copies.push_back(json::parse(sent.substr(at, nl - at)).as_object());
  ASSERT_EQ(copies.size(), 1u) << sent;
  EXPECT_EQ(copies[0].at("subject"), "Disclosures for 12 Elm St");
  EXPECT_EQ(copies[0].at("html"), true);
  EXPECT_EQ(copies[0].at("to"), (json::array{"ann@example.com"}));
  EXPECT_EQ(copies[0].at("cc"), (json::array{"bo@example.com"}));
  EXPECT_EQ(copies[0].at("attachments"), (json::array{"small.txt", "disclosures.pdf"}));
  ASSERT_EQ(copies[0].at("extended").as_object().size(), 1u) << "the tag";
  EXPECT_EQ(copies[0].at("extended").as_object().begin()->value(), id.c_str());
  EXPECT_EQ(sim_.graph_operation_count("upload_chunk"), 2) << "4.5 MB in chunks of 3.2 MB";
  EXPECT_EQ(sim_.graph_operation_count("send"), 1);
  EXPECT_EQ(sim_.operation_count("CreateItem"), 0) << "nothing over EWS";
  ASSERT_TRUE(daemon.stop());
}

// Graph throttles: a burst of MailboxConcurrency refusals without Retry-After, then a tight
// budget per mailbox. The daemon waits as told (a second when Graph names no figure), never
// takes a refusal for a failure of the writes, and gets everything across.
TEST_F(GraphDaemonTest, ThrottledByGraphTheDaemonWaitsAndGetsEveryWriteAcrossOnce) {
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/graph", R"({"throttle":4,"retry_after":0,"budget":6,"window_ms":1000})").status,
            204);
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  test::CrmApi api(sim_);
  const auto mb = sim_.mailboxes()[0];
  const auto base = "/v1/mailboxes/" + test::url_segment(mb);
  for (int i = 0; i < 12; ++i)
    ASSERT_EQ(api.call("POST", base + "/contacts", R"({"display_name":"Lead )" + std::to_string(i) + R"("})").status, 201);
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] {
    int leads = 0;
    for (const auto& [id, line] : sim_.contacts(mb))
      leads += json::parse(line).at("display_name").as_string().starts_with("Lead ");
    auto outbox = api.call("GET", base + "/outbox");
    return leads == 12 && outbox.status == 200 && json::parse(outbox.body).at("outbox").as_array().empty();
  }, "every lead in Exchange", log, 60s));
  std::map<std::string, int> names;
  for (const auto& [id, line] : sim_.contacts(mb)) ++names[std::string(json::parse(line).at("display_name").as_string())];
  for (int i = 0; i < 12; ++i) EXPECT_EQ(names["Lead " + std::to_string(i)], 1) << i;
  EXPECT_NE(daemon.log().find("event=sync.throttled"), std::string::npos) << daemon.log();
  EXPECT_EQ(daemon.log().find("reason=throttled", daemon.log().find("event=sync.write.failed")), std::string::npos)
      << "a throttled write is not counted against it";
  const auto stats = json::parse(sim_.control("GET", "/sim/stats").body).as_object();
  EXPECT_GE(stats.at("graph_throttled").as_int64(), 4);
  // Waiting as told, the daemon is refused far less often than it is answered.
  EXPECT_LT(stats.at("graph_throttled").as_int64() * 2, stats.at("graph_requests").as_int64()) << json::serialize(stats);
  ASSERT_TRUE(daemon.stop());
}

}  // namespace
}  // namespace exsync
