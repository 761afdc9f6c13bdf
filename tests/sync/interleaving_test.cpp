// Two-way sync where the CRM's changes and the mailbox's meet at awkward moments: a resync while
// a CRM create is pending or parked, deletions spread over pages and passes, a resync that no
// longer finds most of a folder, and the CRM changing an entry while the engine acts on it. The
// real engine, EWS adapter and SQLite store against the simulator over real HTTPS.
#include <gtest/gtest.h>

#include "ews_stack.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;

class InterleavingTest : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }
  void build(SyncOptions options) {
    remote_ = std::make_unique<test::EwsStack>(sim_, io_);
    if (!store_) store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_, options);
  }
  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }
  Result<FolderSyncReport, SyncError> sync() { return test::run(io_, engine_->sync_folder(mb_, FolderKind::contacts)); }
  FolderSyncReport synced() {
    auto r = sync();
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : FolderSyncReport{};
  }
  std::string base() { return "/sim/mailboxes/" + test::url_segment(mb_) + "/contacts"; }
  void invalidate() {
    ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mb_) + "/invalidate-sync-states").status, 204);
  }
  void delete_in_exchange(int n) {
    int deleted = 0;
    for (const auto& [id, _] : sim_.contacts(mb_)) {
      if (deleted++ == n) break;
      ASSERT_EQ(sim_.control("DELETE", base() + "/" + test::url_segment(id)).status, 204);
    }
  }
  int named_in_exchange(const std::string& name) {
    int n = 0;
    for (const auto& [id, line] : sim_.contacts(mb_)) n += model::contact_from_json(line)->display_name == name;
    return n;
  }
  std::optional<store::StoredItem> stored(const std::string& local_id) {
    auto item = store_->item(mb_, FolderKind::contacts, local_id);
    EXPECT_TRUE(item);
    return item ? *item : std::nullopt;
  }
  std::size_t stored_count() { return store_->items(mb_, FolderKind::contacts)->size(); }
  model::Contact named(const std::string& name) {
    model::Contact c;
    c.display_name = name;
    return c;
  }
  bool feed_reports_deleted(const std::string& local_id) {
    for (const auto& c : *store_->changes(mb_, 0, 10000))
      if (c.local_id == local_id && c.kind == "deleted") return true;
    return false;
  }

  const std::string mb_ = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 1, .contacts = 30}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

// A CRM create whose first attempt failed is still pending when the mailbox's sync state is lost:
// the resync must neither delete the CRM's contact nor stop the folder.
TEST_F(InterleavingTest, AResyncKeepsAPendingCrmCreateAndTheFolderKeepsSyncing) {
  synced();
  const auto crm = *store_->local_create(mb_, FolderKind::contacts, named("Pending Through A Resync"));
  invalidate();
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"foreign_xml","count":1,"operation":"CreateItem"})").status, 204);
  const auto resynced = synced();
  EXPECT_TRUE(resynced.resynced);
  EXPECT_EQ(resynced.write_failures, 1);
  ASSERT_TRUE(stored(crm.local_id)) << "the resync deleted the CRM's new contact";
  EXPECT_FALSE(feed_reports_deleted(crm.local_id));

  // The next pass writes it, and a contact added in Outlook still arrives.
  ASSERT_EQ(sim_.control("POST", base(), R"({"display_name":"Added In Outlook"})").status, 201);
  auto next = sync();
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(next->written, 1);
  EXPECT_EQ(next->created, 1);
  EXPECT_EQ(named_in_exchange("Pending Through A Resync"), 1);
  EXPECT_EQ(stored_count(), 32u);
  EXPECT_TRUE(store_->outbox(mb_)->empty());
}

// A create Exchange refused three times is parked for an operator; a resync must keep it.
TEST_F(InterleavingTest, AResyncKeepsAParkedCrmCreate) {
  synced();
  const auto crm = *store_->local_create(mb_, FolderKind::contacts, named("Parked Through A Resync"));
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"foreign_xml","count":3,"operation":"CreateItem"})").status, 204);
  for (int i = 0; i < 3; ++i) synced();
  auto outbox = *store_->outbox(mb_);
  ASSERT_EQ(outbox.size(), 1u);
  ASSERT_EQ(outbox[0].state, "parked");
  invalidate();
  EXPECT_TRUE(synced().resynced);
  ASSERT_TRUE(stored(crm.local_id)) << "the resync deleted the CRM's parked contact";
  EXPECT_FALSE(feed_reports_deleted(crm.local_id));
  outbox = *store_->outbox(mb_);
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].state, "parked");
  EXPECT_EQ(stored_count(), 31u);
}

// 20 of 30 contacts deleted in Outlook arrive over five pages of four: the guard measures the
// burst against the 30 the folder held before it, not page by page, and holds all of it.
TEST_F(InterleavingTest, DeletionsSpreadOverPagesAreHeldAsOneBurst) {
  build({.max_changes_per_page = 4});
  synced();
  delete_in_exchange(20);
  const auto held = synced();
  EXPECT_EQ(held.deletions_held, 20);
  EXPECT_EQ(held.deleted, 0);
  EXPECT_EQ(stored_count(), 30u) << "deletions went through before the guard saw the burst";
  // Held through further passes, while other changes still arrive.
  ASSERT_EQ(sim_.control("POST", base(), R"({"display_name":"Added During The Hold"})").status, 201);
  const auto again = synced();
  EXPECT_EQ(again.deletions_held, 20);
  EXPECT_EQ(again.created, 1);
  EXPECT_EQ(stored_count(), 31u);
  EXPECT_EQ((*store_->status(mb_))[0].deletions_held, 20);

  ASSERT_TRUE(*store_->confirm_deletions(mb_, FolderKind::contacts));
  const auto applied = synced();
  EXPECT_EQ(applied.deleted, 20);
  EXPECT_EQ(applied.deletions_held, 0);
  EXPECT_EQ(stored_count(), 11u);
  EXPECT_EQ((*store_->status(mb_))[0].deletions_held, 0);
}

// Fewer deletions than the guard's share go through in the pass that brings them.
TEST_F(InterleavingTest, DeletionsWithinTheShareAreAppliedInTheirPass) {
  build({.max_changes_per_page = 4});
  synced();
  delete_in_exchange(10);
  const auto r = synced();
  EXPECT_EQ(r.deleted, 10);
  EXPECT_EQ(r.deletions_held, 0);
  EXPECT_EQ(stored_count(), 20u);
}

// 80 % of a folder deleted while the sync state is lost: the resync no longer finds them, and
// their removal is held exactly like explicit deletions.
TEST_F(InterleavingTest, AResyncThatNoLongerFindsMostOfTheFolderHoldsTheRemoval) {
  synced();
  delete_in_exchange(24);
  invalidate();
  const auto held = synced();
  EXPECT_TRUE(held.resynced);
  EXPECT_EQ(held.deletions_held, 24);
  EXPECT_EQ(held.deleted, 0);
  EXPECT_EQ(stored_count(), 30u) << "the resync removed 80% of the folder without a confirmation";
  EXPECT_EQ(synced().deletions_held, 24) << "still held on the next pass";

  ASSERT_TRUE(*store_->confirm_deletions(mb_, FolderKind::contacts));
  EXPECT_EQ(synced().deleted, 24);
  EXPECT_EQ(stored_count(), 6u);
}

// The CRM edits a contact whose deletion in Outlook is held: when the deletion is confirmed the
// edit wins and the contact is created again, as a modification always wins over a deletion.
TEST_F(InterleavingTest, AnEditOfAContactWhoseDeletionIsHeldWins) {
  synced();
  const auto items = *store_->items(mb_, FolderKind::contacts);
  delete_in_exchange(20);
  EXPECT_EQ(synced().deletions_held, 20);
  // The first contact in the simulator's order is among the deleted; find its local row.
  std::string edited;
  for (const auto& item : items)
    if (!sim_.contacts(mb_).contains(item.remote.id)) edited = item.local_id;
  ASSERT_FALSE(edited.empty());
  ASSERT_TRUE(*store_->local_update(mb_, FolderKind::contacts, edited, named("Edited While Held")));
  ASSERT_TRUE(*store_->confirm_deletions(mb_, FolderKind::contacts));
  EXPECT_EQ(synced().deleted, 19);
  synced();
  EXPECT_EQ(named_in_exchange("Edited While Held"), 1);
  ASSERT_TRUE(stored(edited));
  EXPECT_EQ(stored_count(), 11u);
}

}  // namespace
}  // namespace exsync::sync
