// Microsoft's own clients, from the npm registry (tests/interop/graph, pinned by its lockfile and
// installed by scripts/test), against the simulator's Graph and Entra: MSAL Node signs in with
// client credentials and ROPC and is refused a wrong password as Entra refuses it; the Graph
// JavaScript SDK pages a delta round with its PageIterator and finds exactly what the daemon
// stored, finds the daemon's tagged contact and its sent message, and writes a contact that the
// daemon's next pass takes in. If the simulator answered otherwise than Graph, these clients,
// which no one here wrote, would fail.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "exsync/model/tag.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

TEST(GraphPeersTest, MicrosoftsClientsSeeWhatTheDaemonWroteAndTheDaemonTakesInWhatTheyWrote) {
  const auto peers = test::source_dir() / "tests" / "interop" / "graph";
  ASSERT_TRUE(std::filesystem::exists(peers / "node_modules" / "@microsoft" / "microsoft-graph-client"))
      << "the npm peers are not installed: scripts/test installs them (npm ci in " << peers.string() << ")";
  test::Simulator sim{test::SimOptions{.mailboxes = 1, .contacts = 16, .events = 0}};
  test::edit_config(sim.config(), "[tenant]\n",
                    "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
  test::edit_config(sim.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
  test::poll_every_second(sim.config());
  const auto mb = sim.mailboxes()[0];
  const auto base = "/v1/mailboxes/" + test::url_segment(mb);

  // The daemon writes: a contact from the CRM, and a message.
  test::TempDir logs;
  test::Daemon daemon(sim.config(), logs.path());
  daemon.start();
  test::CrmApi api(sim);
  auto contact = api.call("POST", base + "/contacts", R"({"display_name":"CRM Seller"})");
  ASSERT_EQ(contact.status, 201) << contact.body;
  const std::string contact_id(json::parse(contact.body).at("id").as_string());
  auto message = api.call("POST", base + "/messages", R"({"to":["ann@example.com"],"subject":"Offer","text":"Attached."})");
  ASSERT_EQ(message.status, 202) << message.body;
  const std::string message_id(json::parse(message.body).at("id").as_string());
  ASSERT_TRUE(test::eventually([&] {
    auto outbox = api.call("GET", base + "/outbox");
    return outbox.status == 200 && json::parse(outbox.body).at("outbox").as_array().empty() &&
           api.call("GET", base + "/messages/" + message_id).body.find("\"sent\"") != std::string::npos;
  }, "the daemon's writes in Exchange", [&] { return daemon.log(); }));
  ASSERT_TRUE(daemon.stop());

  const auto app = sim.graph_app_settings();
  const json::object settings{{"base", sim.base_url()},
                              {"tenant", "contoso.onmicrosoft.com"},
                              {"client_id", app.client_id},
                              {"client_secret", app.client_secret},
                              {"username", app.username},
                              {"password", sim.password()},
                              {"mailbox", mb},
                              {"tag_property", model::graph_tag_property_id()},
                              {"crm_contact", contact_id},
                              {"crm_message", message_id}};
  auto r = test::run_process({"/usr/bin/env", "EXSYNC_PEER=" + json::serialize(settings),
                              "NODE_EXTRA_CA_CERTS=" + (sim.dir() / "ca.pem").string(), "node",
                              (peers / "peer.mjs").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json::error_code ec;
  auto parsed = json::parse(r.out, ec);
  ASSERT_FALSE(ec) << r.out << r.err;
  const auto& seen = parsed.as_object();

  EXPECT_EQ(seen.at("app_token").at("ok"), true);
  EXPECT_EQ(seen.at("ropc").at("ok"), true);
  EXPECT_EQ(seen.at("ropc").at("account"), app.username.c_str());
  EXPECT_NE(std::string(seen.at("wrong_password").as_string()).find("AADSTS50126"), std::string::npos)
      << seen.at("wrong_password");

  // The SDK's delta round finds what the daemon stored, id for id.
  std::map<std::string, std::string> peer_view, daemon_view;
  for (const auto& c : seen.at("contacts").as_array())
    peer_view[std::string(c.at("id").as_string())] = std::string(c.at("display_name").as_string());
  for (const auto& [remote_id, line] : test::stored_items(sim.config(), mb))
    daemon_view[remote_id] = std::string(json::parse(line).at("display_name").as_string());
  EXPECT_EQ(peer_view.size(), 17u) << "16 contacts and the CRM's, over three pages of seven";
  EXPECT_EQ(peer_view, daemon_view);
  EXPECT_TRUE(seen.at("delta_link").is_string());
  EXPECT_EQ(seen.at("changes_after_round"), 0) << "the deltaLink holds the round";
  EXPECT_EQ(seen.at("crm_contact"), (json::array{"CRM Seller"})) << "the daemon's tag, read through Graph";
  EXPECT_EQ(seen.at("crm_message"), (json::array{json::object{{"is_draft", false}}})) << "sent once, no draft left";
  EXPECT_EQ(seen.at("created").at("changed"), true);
  EXPECT_EQ(seen.at("stale_patch"), "412 ErrorIrresolvableConflict");

  // The SDK's write reaches the CRM with the daemon's next pass.
  auto once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim.config().string()});
  ASSERT_EQ(once.exit_code, 0) << once.err;
  const auto stored = test::stored_items(sim.config(), mb);
  const std::string created_id(seen.at("created").at("id").as_string());
  ASSERT_TRUE(stored.contains(created_id));
  const auto peer_contact = json::parse(stored.at(created_id)).as_object();
  EXPECT_EQ(peer_contact.at("display_name"), "Peer Buyer");
  EXPECT_EQ(peer_contact.at("job_title"), "Written by the Graph SDK");
}

}  // namespace
}  // namespace exsync
