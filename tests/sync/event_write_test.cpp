// The CRM's events written to the agent's calendar: the real engine, EWS adapter and store
// against the simulator, whose calendar shows what arrived.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "ews_stack.hpp"
#include "exsync/model/event_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;

class EventWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    remote_ = std::make_unique<test::EwsStack>(sim_, io_);
    store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_);
  }
  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }
  FolderSyncReport sync() {
    auto r = test::run(io_, engine_->sync_folder(mb_, FolderKind::calendar));
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : FolderSyncReport{};
  }
  std::map<std::string, model::Event> in_exchange() {
    std::map<std::string, model::Event> out;
    std::istringstream in(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb_) + "/events").body);
    std::string line;
    while (std::getline(in, line))
      out[std::string(boost::json::parse(line).at("ews_id").as_string())] = *model::event_from_json(line);
    return out;
  }
  int invitations() {
    return static_cast<int>(boost::json::parse(sim_.control("GET", "/sim/stats").body).at("invitations_sent").as_int64());
  }
  model::Event showing() {
    return *model::event_from_json(R"({"subject":"Showing: 12 Oak St","location":"12 Oak St","body":"Bring keys & <codes>",
      "start":"2026-03-27T10:00:00+01:00","end":"2026-03-27T11:00:00+01:00","time_zone":"Europe/Berlin",
      "attendees":[{"name":"Ann Buyer","address":"ann@example.com","type":"required"},
                   {"name":"Room","address":"room@contoso.onmicrosoft.com","type":"resource"}],
      "reminder_minutes":30,"free_busy":"Busy","categories":["Showing"]})");
  }
  std::string remote_id(const std::string& local_id) {
    return (*store_->item(mb_, FolderKind::calendar, local_id))->remote.id;
  }

  const std::string mb_ = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 1, .contacts = 0, .events = 3}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST_F(EventWriteTest, ACrmEventArrivesInItsZoneWithoutInvitationsUnlessAsked) {
  sync();
  auto created = store_->local_create(mb_, FolderKind::calendar, showing());
  ASSERT_TRUE(created);
  auto report = sync();
  EXPECT_EQ(report.written, 1);
  EXPECT_EQ(report.created, 0) << "its own write is not echoed back";
  const auto id = remote_id(created->local_id);
  ASSERT_FALSE(id.empty());
  auto all = in_exchange();
  ASSERT_TRUE(all.contains(id));
  const auto& e = all.at(id);
  EXPECT_EQ(e.subject, "Showing: 12 Oak St");
  EXPECT_EQ(e.time_zone, "Europe/Berlin");
  EXPECT_EQ(e.start, "2026-03-27T10:00:00+01:00");
  EXPECT_EQ(e.end, "2026-03-27T11:00:00+01:00");
  EXPECT_EQ(e.location, "12 Oak St");
  EXPECT_EQ(e.body, "Bring keys & <codes>");
  EXPECT_EQ(e.reminder_minutes, 30);
  ASSERT_EQ(e.attendees.size(), 2u);
  EXPECT_EQ(e.attendees[0].address, "ann@example.com");
  EXPECT_EQ(e.attendees[1].type, "resource");
  EXPECT_EQ(invitations(), 0) << "SendToNone unless the CRM asks";

  ASSERT_TRUE(store_->local_create(mb_, FolderKind::calendar, showing(), /*notify=*/true));
  sync();
  EXPECT_EQ(invitations(), 2);
}

TEST_F(EventWriteTest, AnEventMovedInTheCrmMovesInExchangeAcrossDaylightSaving) {
  sync();
  auto created = *store_->local_create(mb_, FolderKind::calendar, showing());
  sync();
  auto moved = showing();
  moved.start = "2026-03-31T10:00:00+02:00";  // after Europe's change to summer time
  moved.end = "2026-03-31T11:30:00+02:00";
  moved.location = "Office";
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::calendar, created.local_id, moved));
  sim_.control("POST", "/sim/stats/reset");
  auto report = sync();
  EXPECT_EQ(report.written, 1);
  EXPECT_EQ(sim_.operation_count("UpdateItem"), 1);
  const auto e = in_exchange().at(remote_id(created.local_id));
  EXPECT_EQ(e.start, "2026-03-31T10:00:00+02:00");
  EXPECT_EQ(e.end, "2026-03-31T11:30:00+02:00");
  EXPECT_EQ(e.location, "Office");
  EXPECT_EQ(e.subject, "Showing: 12 Oak St");
}

TEST_F(EventWriteTest, AnEventDeletedInTheCrmIsDeletedInExchange) {
  sync();
  auto created = *store_->local_create(mb_, FolderKind::calendar, showing());
  sync();
  const auto id = remote_id(created.local_id);
  ASSERT_TRUE(*store_->local_delete(mb_, FolderKind::calendar, created.local_id));
  sync();
  EXPECT_FALSE(in_exchange().contains(id));
  EXPECT_EQ(in_exchange().size(), 3u);
}

}  // namespace
}  // namespace exsync::sync
