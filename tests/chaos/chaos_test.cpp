// Crash safety under chaos, over EWS and over Graph: the real daemon is killed with SIGKILL at random moments while the
// CRM writes contacts and sends mail through the API and Exchange changes on its own side, then
// restarted, again and again. At the end the simulator's mailboxes and the store agree item by
// item: every acknowledged CRM write is in Exchange exactly once, every remote change is in the
// store, and every message went out exactly once.
//
// EXSYNC_CHAOS_KILLS sets the number of kills (25 in the test suite; scripts/chaos N for more),
// EXSYNC_CHAOS_SEED the random seed (printed, so that a failing run can be repeated).
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "graph_endpoint.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Over each backend: the same tenant reached over EWS, and over Microsoft Graph (app-only,
// contacts; mail in two phases).
class ChaosTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    test::poll_every_second(sim_.config());
    if (GetParam() == "graph") {
      test::edit_config(sim_.config(), "[tenant]\n",
                        "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
      test::edit_config(sim_.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
    }
  }
  void start() { daemon_.start(); }
  void kill() { daemon_.kill(); }
  // One API request; the status, or 0 when the daemon was not there to answer.
  std::pair<int, std::string> api(const std::string& method, const std::string& path, const std::string& body = "") {
    auto a = api_.call(method, path, body);
    return {a.status, a.body};
  }
  std::vector<std::string> sim_names(const std::string& mailbox) {
    std::vector<std::string> out;
    for (const auto& [id, line] : sim_.contacts(mailbox))
      out.emplace_back(json::parse(line).at("display_name").as_string());
    return out;
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 30, .events = 3}};
  test::TempDir logs_;
  test::CrmApi api_{sim_};
  test::Daemon daemon_{sim_.config(), logs_.path()};
};

TEST_P(ChaosTest, RandomKillsLoseAndDuplicateNothing) {
  const int kills = env_int("EXSYNC_CHAOS_KILLS", 25);
  const auto seed = static_cast<unsigned>(env_int("EXSYNC_CHAOS_SEED", static_cast<int>(std::random_device{}() & 0x7fffffff)));
  std::printf("chaos: %d kills, seed %u (EXSYNC_CHAOS_SEED=%u repeats this run)\n", kills, seed, seed);
  std::mt19937 rng(seed);
  const auto mailboxes = sim_.mailboxes();

  std::map<std::string, std::set<std::string>> crm_created;     // acknowledged by the API
  std::map<std::string, std::set<std::string>> remote_created;  // made in Exchange
  std::map<std::string, std::set<std::string>> remote_deleted;
  std::set<std::string> messages;                               // subjects acknowledged
  start();
  for (int k = 0; k < kills; ++k) {
    for (const auto& mb : mailboxes) {
      const auto seg = test::url_segment(mb);
      // The CRM: a new contact, sometimes an edit of an earlier one, sometimes a message.
      const std::string name = "crm " + std::to_string(k) + " " + mb.substr(0, 6);
      auto [status, body] = api("POST", "/v1/mailboxes/" + seg + "/contacts", R"({"display_name":")" + name + R"("})");
      if (status == 201) crm_created[mb].insert(name);
      if (rng() % 3 == 0) {
        const std::string subject = "chaos " + std::to_string(k) + " " + mb.substr(0, 6);
        auto sent = api("POST", "/v1/mailboxes/" + seg + "/messages",
                        R"({"to":["ann@example.com"],"subject":")" + subject + R"(","text":"x"})");
        if (sent.first == 202) messages.insert(seg + "|" + subject);
      }
      // Exchange: a new contact, and now and then one of the original ones deleted.
      const std::string remote = "remote " + std::to_string(k) + " " + mb.substr(0, 6);
      ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":")" + remote + R"("})").status, 201);
      remote_created[mb].insert(remote);
      if (rng() % 4 == 0) {
        for (const auto& [id, line] : sim_.contacts(mb)) {
          const std::string n(json::parse(line).at("display_name").as_string());
          if (n.rfind("crm ", 0) == 0 || n.rfind("remote ", 0) == 0) continue;
          ASSERT_EQ(sim_.control("DELETE", "/sim/mailboxes/" + seg + "/contacts/" + test::url_segment(id)).status, 204);
          remote_deleted[mb].insert(n);
          break;
        }
      }
    }
    // Let the daemon get somewhere (or nowhere), then kill it mid-flight.
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 600));
    kill();
    start();
  }

  // Undisturbed now: wait until the store and Exchange agree.
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  std::string why;  // what still differs
  auto agreed = [&] {
    for (const auto& mb : mailboxes) {
      const auto want = sim_.contacts(mb);
      const auto got = test::stored_items(sim_.config(), mb);
      if (got.size() != want.size()) {
        why = mb + ": " + std::to_string(got.size()) + " stored, " + std::to_string(want.size()) + " in Exchange";
        return false;
      }
      for (const auto& [ews_id, line] : want) {
        // The store keeps the backend's ids: Graph's differ from EWS's.
        auto it = got.find(GetParam() == "graph" ? sim::graph_id(ews_id) : ews_id);
        auto same = [&](const std::string& stored) {
          auto a = test::comparable_contact(stored), b = test::comparable_contact(line);
          for (auto* o : {&a, &b})
            for (const char* id : {"remote_id", "ews_id"}) o->erase(id);  // matched by key above
          return a == b;
        };
        if (it == got.end() || !same(it->second)) {
          why = mb + ": " + line + " stored as " + (it == got.end() ? "nothing" : it->second);
          return false;
        }
      }
      const auto outbox = api("GET", "/v1/mailboxes/" + test::url_segment(mb) + "/outbox");
      if (outbox.first != 200 || json::parse(outbox.second).at("outbox").as_array().size() != 0) {
        why = mb + ": outbox " + outbox.second;
        return false;
      }
    }
    return true;
  };
  while (!agreed()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no convergence: " << why << "\n" << daemon_.log().substr(0, 3000);
    std::this_thread::sleep_for(200ms);
  }
  for (const auto& mb : mailboxes) {
    // (The simulator's own seed contacts may share a name; the ones made here are unique.)
    std::map<std::string, int> count;
    for (const auto& n : sim_names(mb)) ++count[n];
    for (const auto& n : remote_deleted[mb]) EXPECT_FALSE(count.contains(n)) << mb << ": deleted contact \"" << n << "\"";
    for (const auto& n : crm_created[mb]) EXPECT_EQ(count[n], 1) << mb << ": CRM contact \"" << n << "\"";
    for (const auto& n : remote_created[mb]) EXPECT_EQ(count[n], 1) << mb << ": remote contact \"" << n << "\"";
  }
  // Every acknowledged message is in Sent Items exactly once.
  for (const auto& key : messages) {
    const auto bar = key.find('|');
    const auto seg = key.substr(0, bar);
    const auto subject = key.substr(bar + 1);
    const auto deadline_sent = std::chrono::steady_clock::now() + 30s;
    std::size_t n = 0;
    for (;;) {
      const auto sent = sim_.control("GET", "/sim/mailboxes/" + seg + "/sent").body;
      n = 0;
      for (auto pos = sent.find("\"subject\":\"" + subject + "\""); pos != std::string::npos;
           pos = sent.find("\"subject\":\"" + subject + "\"", pos + 1))
        ++n;
      if (n >= 1 || std::chrono::steady_clock::now() > deadline_sent) break;
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(n, 1u) << subject;
  }
  EXPECT_TRUE(daemon_.stop(15s));
  sim_.expect_schema_valid_requests();
  std::printf("chaos: %d kills survived; %zu CRM contacts, %zu messages, all accounted for\n", kills,
              crm_created.begin()->second.size() + crm_created.rbegin()->second.size(), messages.size());
}

INSTANTIATE_TEST_SUITE_P(Protocols, ChaosTest, ::testing::Values("ews", "graph"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace exsync
