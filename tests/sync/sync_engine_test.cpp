#include "exsync/sync/sync_engine.hpp"

#include <gtest/gtest.h>

#include "ews_stack.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/mailbox_sync.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;

// The real engine, EWS adapter and SQLite store against the simulator over real HTTPS.
class SyncEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }

  void build(SyncOptions options) {
    remote_ = std::make_unique<test::EwsStack>(sim_, io_, 10);
    if (!store_) store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_, options);
  }

  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }

  Result<FolderSyncReport, SyncError> sync(const std::string& mailbox) {
    return test::run(io_, engine_->sync_folder(mailbox, FolderKind::contacts));
  }

  // What the store holds, in the simulator's listing shape, by ews_id.
  std::map<std::string, std::string> stored(const std::string& mailbox) {
    std::map<std::string, std::string> out;
    for (const auto& item : *store_->items(mailbox, FolderKind::contacts)) {
      auto c = model::contact_from_json(item.payload_json);
      EXPECT_TRUE(c);
      EXPECT_FALSE(out.contains(item.remote.id)) << "duplicate " << item.remote.id;
      out[item.remote.id] = model::contact_to_json(*c, model::ItemIdentity{"", item.remote});
    }
    return out;
  }

  void expect_converged(const std::string& mailbox) {
    const auto want = sim_.contacts(mailbox);
    const auto got = stored(mailbox);
    EXPECT_EQ(got.size(), want.size()) << mailbox;
    for (const auto& [id, json] : want) {
      auto it = got.find(id);
      if (it == got.end()) {
        ADD_FAILURE() << "missing " << json;
        continue;
      }
      EXPECT_EQ(it->second, json);
    }
  }

  const std::string agent1 = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 3, .contacts = 30}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST_F(SyncEngineTest, InitialSyncStoresExactlyTheSimulatorsContactsFieldByField) {
  for (const auto& mailbox : sim_.mailboxes()) {
    auto r = sync(mailbox);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->created, 30);
    expect_converged(mailbox);
  }
}

// The initial sync asks for the folder's size once (its progress in `exsyncd status`), and
// shows none once it is done.
TEST_F(SyncEngineTest, TheInitialSyncKnowsTheFoldersSizeUntilItIsDone) {
  ASSERT_TRUE(sync(agent1));
  EXPECT_EQ(sim_.operation_count("GetFolder"), 1);
  auto status = store_->status(agent1);
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ(status->front().items, 30);
  EXPECT_FALSE(status->front().initial_total);
  ASSERT_TRUE(sync(agent1));
  EXPECT_EQ(sim_.operation_count("GetFolder"), 1) << "not asked again once synced";
}

TEST_F(SyncEngineTest, ASecondSyncWithNoChangesOnlyAsksForChanges) {
  ASSERT_TRUE(sync(agent1));
  sim_.control("POST", "/sim/stats/reset");
  auto r = sync(agent1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->created + r->updated + r->deleted, 0);
  EXPECT_EQ(sim_.operation_count("SyncFolderItems"), 1);
  EXPECT_EQ(sim_.operation_count("GetItem"), 0);
}

TEST_F(SyncEngineTest, CreatesUpdatesAndDeletesInExchangeAreReflected) {
  ASSERT_TRUE(sync(agent1));
  auto contacts = sim_.contacts(agent1);
  auto it = contacts.begin();
  const std::string updated_id = it->first;
  const std::string deleted_id = (++it)->first;
  const auto base = "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts";
  auto created = sim_.control("POST", base, R"({"display_name":"New <&]]>\" Client","given_name":"New","emails":[{"key":"EmailAddress1","address":"new@example.com"}],"birthday":"1990-02-28"})");
  ASSERT_EQ(created.status, 201) << created.body;
  ASSERT_EQ(sim_.control("PUT", base + "/" + test::url_segment(updated_id), R"({"display_name":"Renamed","notes":"multi\nline"})").status, 200);
  ASSERT_EQ(sim_.control("DELETE", base + "/" + test::url_segment(deleted_id)).status, 204);

  auto r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->created, 1);
  EXPECT_EQ(r->updated, 1);
  EXPECT_EQ(r->deleted, 1);
  expect_converged(agent1);
}

TEST_F(SyncEngineTest, SmallPagesConvergeToTheSameState) {
  build(SyncOptions{.max_changes_per_page = 7});
  auto r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_GE(r->pages, 5);
  expect_converged(agent1);
}

TEST_F(SyncEngineTest, InvalidSyncStateResyncsWithoutDuplicates) {
  ASSERT_TRUE(sync(agent1));
  const auto before = *store_->items(agent1, FolderKind::contacts);
  auto contacts = sim_.contacts(agent1);
  const auto base = "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts/";
  // While the sync state is lost, one contact is deleted and one changed.
  ASSERT_EQ(sim_.control("DELETE", base + test::url_segment(contacts.begin()->first)).status, 204);
  ASSERT_EQ(sim_.control("PUT", base + test::url_segment(contacts.rbegin()->first), R"({"display_name":"Changed"})").status, 200);
  sim_.control("POST", "/sim/mailboxes/" + test::url_segment(agent1) + "/invalidate-sync-states");

  sim_.control("POST", "/sim/stats/reset");
  auto r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->resynced);
  EXPECT_EQ(r->created, 0);
  EXPECT_EQ(r->deleted, 1);
  EXPECT_EQ(r->fetched, 1) << "only the changed contact is downloaded again";
  expect_converged(agent1);
  // Local ids survive the resync.
  std::map<std::string, std::string> ids_before, ids_after;
  for (const auto& i : before) ids_before[i.remote.id] = i.local_id;
  for (const auto& i : *store_->items(agent1, FolderKind::contacts)) ids_after[i.remote.id] = i.local_id;
  for (const auto& [remote, local] : ids_after) EXPECT_EQ(ids_before[remote], local);
}

TEST_F(SyncEngineTest, ARevokedTokenMidwayIsReplacedAndTheSyncCompletes) {
  ASSERT_TRUE(sync(agent1));
  // Same password, every token revoked: EWS answers 401, the refresh token is refused too.
  sim_.control("PUT", "/sim/password", "{\"password\": \"" + sim_.password() + "\"}");
  sim_.control("POST", "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts", R"({"display_name":"After revoke"})");
  auto r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->created, 1);
  expect_converged(agent1);
}

TEST_F(SyncEngineTest, FailingMailboxesAreReportedAndTheOthersStillSync) {
  sim_.control("PUT", "/sim/impersonation/denied/agent3@contoso.onmicrosoft.com");
  const std::vector<std::string> mailboxes = {agent1, "nobody@contoso.onmicrosoft.com", "agent2@contoso.onmicrosoft.com",
                                              "agent3@contoso.onmicrosoft.com"};
  std::vector<MailboxOutcome> outcomes;
  for (const auto& mailbox : mailboxes)
    outcomes.push_back(test::run(io_, sync_mailbox(*engine_, mailbox, {FolderKind::contacts})));
  ASSERT_TRUE(outcomes[1].error);
  EXPECT_EQ(outcomes[1].error->reason(), "mailbox_not_found");
  ASSERT_TRUE(outcomes[3].error);
  EXPECT_EQ(outcomes[3].error->reason(), "impersonation_denied");
  EXPECT_FALSE(outcomes[0].error);
  EXPECT_FALSE(outcomes[2].error);
  expect_converged(agent1);
  expect_converged("agent2@contoso.onmicrosoft.com");
}

TEST_F(SyncEngineTest, AMassDeletionWaitsForAnOperatorsConfirmation) {
  ASSERT_TRUE(sync(agent1));
  auto contacts = sim_.contacts(agent1);
  int n = 0;
  for (const auto& [id, _] : contacts) {
    if (n++ == 20) break;  // 20 of 30: more than half
    sim_.control("DELETE", "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts/" + test::url_segment(id));
  }
  auto held = sync(agent1);
  ASSERT_TRUE(held) << held.error().message();
  EXPECT_EQ(held->deletions_held, 20);
  EXPECT_EQ(held->deleted, 0);
  EXPECT_EQ(store_->items(agent1, FolderKind::contacts)->size(), 30u) << "nothing deleted yet";
  EXPECT_EQ((*store_->status(agent1))[0].deletions_held, 20);
  // Still held on the next pass, until confirmed.
  EXPECT_EQ(sync(agent1)->deletions_held, 20);
  ASSERT_TRUE(*store_->confirm_deletions(agent1, FolderKind::contacts));
  auto applied = sync(agent1);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->deleted, 20);
  EXPECT_EQ(applied->deletions_held, 0);
  expect_converged(agent1);
  EXPECT_EQ((*store_->status(agent1))[0].deletions_held, 0);
  EXPECT_FALSE(*store_->confirm_deletions(agent1, FolderKind::contacts)) << "a confirmation is used once";
}

// Exchange answers overload with ErrorServerBusy and a back-off, or HTTP 503/429 with
// Retry-After: the engine waits as asked and tries again, within bounds.
TEST_F(SyncEngineTest, ThrottlingIsWaitedOutAsTheServerAsks) {
  sim_.control("PUT", "/sim/faults/ews", R"({"kind":"server_busy","backoff_ms":150,"count":2,"mailbox":"agent1@contoso.onmicrosoft.com"})");
  const auto started = std::chrono::steady_clock::now();
  auto r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->throttled, 2);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300)) << "waited the back-off twice";
  expect_converged(agent1);

  sim_.control("PUT", "/sim/faults/ews", R"({"kind":"http503","backoff_ms":1000,"count":1})");
  sim_.control("POST", "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts", R"({"display_name":"After 503"})");
  auto again = sync(agent1);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->throttled, 1);
  EXPECT_EQ(again->created, 1);
}

TEST_F(SyncEngineTest, ABackOffLongerThanAPassFailsTheMailboxWithTheServersFigure) {
  sim_.control("PUT", "/sim/faults/ews", R"({"kind":"server_busy","backoff_ms":297749,"count":1})");
  auto r = sync(agent1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason(), "throttled");
  EXPECT_EQ(r.error().remote.retry_after, std::chrono::milliseconds(297749));
  EXPECT_EQ(r.error().remote.code, "ErrorServerBusy");
  auto later = sync(agent1);  // the fault is spent
  ASSERT_TRUE(later);
  expect_converged(agent1);
}

TEST_F(SyncEngineTest, AStopRequestEndsTheSyncBetweenPagesWithWhatWasCommitted) {
  build(SyncOptions{.max_changes_per_page = 5});
  engine_->request_stop();
  auto r = sync(agent1);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->interrupted);
  EXPECT_EQ(r->pages, 0);
}

}  // namespace
}  // namespace exsync::sync

namespace exsync::sync {
namespace {

// A contact Exchange will not hand over (GetItem answers it ErrorCorruptData) is quarantined
// with the server's reason; the rest of its page commits and the folder keeps syncing. It is
// asked again when due, stays quarantined while still refused, and comes in once readable; one
// deleted meanwhile leaves quarantine.
TEST_F(SyncEngineTest, APoisonItemIsQuarantinedAndTheFolderKeepsSyncing) {
  SyncOptions options;
  options.quarantine_retry = std::chrono::seconds(0);  // due at every pass
  build(options);
  const auto seg = test::url_segment(agent1);
  auto ids = sim_.contacts(agent1);
  const auto poison = ids.begin()->first, doomed = std::next(ids.begin())->first;
  for (const auto& id : {poison, doomed})
    ASSERT_EQ(sim_.control("PUT", "/sim/mailboxes/" + seg + "/poison/" + test::url_segment(id), R"({"code":"ErrorCorruptData"})").status, 204);

  auto r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->created, 28);
  EXPECT_EQ(r->quarantined, 2);
  auto q = *store_->quarantine(agent1);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].code, "ErrorCorruptData");
  EXPECT_NE(q[0].reason.find("damaged"), std::string::npos) << q[0].reason;
  EXPECT_EQ((*store_->status(agent1))[0].quarantined, 2);

  // Still refused: asked again, still quarantined; a new contact arrives regardless.
  ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"After the poison"})").status, 201);
  r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->created, 1);
  EXPECT_EQ(r->quarantined, 2);
  q = *store_->quarantine(agent1);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].attempts, 2);

  // One healed, one deleted in Exchange (its poison stays): both leave quarantine.
  ASSERT_EQ(sim_.control("DELETE", "/sim/mailboxes/" + seg + "/poison/" + test::url_segment(poison)).status, 204);
  ASSERT_EQ(sim_.control("DELETE", "/sim/mailboxes/" + seg + "/contacts/" + test::url_segment(doomed)).status, 204);
  r = sync(agent1);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->quarantined, 0);
  EXPECT_TRUE(store_->quarantine(agent1)->empty());
  expect_converged(agent1);
}

// A quarantined item waits before it is asked again, twice as long after each refusal.
TEST_F(SyncEngineTest, AQuarantinedItemIsNotAskedAgainBeforeItIsDue) {
  const auto seg = test::url_segment(agent1);
  const auto poison = sim_.contacts(agent1).begin()->first;
  ASSERT_EQ(sim_.control("PUT", "/sim/mailboxes/" + seg + "/poison/" + test::url_segment(poison), R"({"code":"ErrorItemCorrupt"})").status, 204);
  ASSERT_TRUE(sync(agent1));
  const int before = sim_.operation_count("GetItem");
  auto r = sync(agent1);  // default: 15 minutes until the first retry
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(sim_.operation_count("GetItem"), before) << "asked again at once";
  EXPECT_EQ(store_->quarantine(agent1)->size(), 1u);
  EXPECT_TRUE(store_->quarantine_due(agent1, FolderKind::contacts, std::chrono::seconds(0))->size() == 1);
  EXPECT_TRUE(store_->quarantine_due(agent1, FolderKind::contacts, std::chrono::seconds(60))->empty());
}

}  // namespace
}  // namespace exsync::sync
