// Retention under `exsyncd run`: old feed entries, conflicts and sent messages go ([store]
// keep_*_days), and a CRM cursor older than what the feed still holds is answered 410 with
// what to do.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

void sql(const std::filesystem::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  EXPECT_EQ(sqlite3_exec(h, statement.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  sqlite3_close(h);
}

TEST(RetentionTest, OldHistoryGoesAndAStaleCursorIsAnswered410) {
  test::Simulator sim(test::SimOptions{.mailboxes = 1, .contacts = 4, .events = 1});
  test::poll_every_second(sim.config());
  test::edit_config(sim.config(), "path = \"exsync.db\"", "path = \"exsync.db\"\nkeep_changes_days = 7\nkeep_messages_days = 7");
  const auto mb = sim.mailboxes()[0];
  const auto seg = test::url_segment(mb);
  test::TempDir logs;
  test::Daemon daemon(sim.config(), logs.path());
  test::CrmApi api(sim);
  auto until = [&](std::function<bool()> done, const char* what) {
    ASSERT_TRUE(test::eventually(done, what, [&] { return daemon.log(); }));
  };
  daemon.start();
  auto feed = [&](int cursor) { return api.call("GET", "/v1/mailboxes/" + seg + "/changes?cursor=" + std::to_string(cursor)); };
  until([&] { return feed(0).status == 200 && json::parse(feed(0).body).at("changes").as_array().size() == 5; },
        "the initial sync in the feed");
  auto sent = api.call("POST", "/v1/mailboxes/" + seg + "/messages", R"({"to":["ann@example.com"],"subject":"Old news","text":"x"})");
  ASSERT_EQ(sent.status, 202);
  const std::string message = std::string(json::parse(sent.body).at("id").as_string());
  until([&] { return api.call("GET", "/v1/mailboxes/" + seg + "/messages/" + message).body.find("\"sent\"") != std::string::npos; },
        "the message sent");
  daemon.signal(SIGTERM);
  ASSERT_TRUE(daemon.wait(20s));

  // Ten days pass for what is there now; then one more change arrives.
  sql(sim.dir() / "exsync.db",
      "UPDATE changes SET at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 days');"
      "UPDATE messages SET sent_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-10 days');");
  daemon.start();
  until([&] { return daemon.log().find("event=store.pruned") != std::string::npos; }, "the prune at start");
  EXPECT_NE(daemon.log().find("changes=5"), std::string::npos) << daemon.log();
  EXPECT_EQ(api.call("GET", "/v1/mailboxes/" + seg + "/messages/" + message).status, 404) << "the sent message is gone";
  ASSERT_EQ(sim.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"New"})").status, 201);

  auto stale = feed(0);
  ASSERT_EQ(stale.status, 410) << stale.body;
  const auto gone = json::parse(stale.body).as_object();
  EXPECT_EQ(gone.at("error").as_string(), "cursor_expired");
  const auto oldest = gone.at("oldest_cursor").as_int64();
  EXPECT_GT(oldest, 0);
  until([&] {
    auto r = feed(static_cast<int>(oldest));
    return r.status == 200 && json::parse(r.body).at("changes").as_array().size() == 1;
  }, "the new change, from the oldest cursor");
  EXPECT_EQ(api.call("GET", "/v1/mailboxes/" + seg + "/contacts").body.find("\"New\"") != std::string::npos, true)
      << "items are never pruned";
  ASSERT_TRUE(daemon.stop());
}

}  // namespace
}  // namespace exsync
