// The CRM's changes written back to Exchange: the real engine, EWS adapter and SQLite store
// against the simulator.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "ews_stack.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;
namespace json = boost::json;

class WriteBackTest : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }
  void build(SyncOptions options) {
    remote_ = std::make_unique<test::EwsStack>(sim_, io_);
    if (!store_) store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_, options);
  }
  void TearDown() override {
    pool_.join();
    if (!expect_schema_violation_) sim_.expect_schema_valid_requests();
  }
  FolderSyncReport sync() {
    auto r = test::run(io_, engine_->sync_folder(mb_, FolderKind::contacts));
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? *r : FolderSyncReport{};
  }
  model::Contact contact(const std::string& json_text) { return *model::contact_from_json(json_text); }
  // The simulator's contact with `ews_id`, parsed.
  std::optional<model::Contact> in_exchange(const std::string& ews_id) {
    auto all = sim_.contacts(mb_);
    auto it = all.find(ews_id);
    if (it == all.end()) return std::nullopt;
    return contact(it->second);
  }
  store::StoredItem stored(const std::string& local_id) {
    auto item = store_->item(mb_, FolderKind::contacts, local_id);
    EXPECT_TRUE(item && *item);
    return **item;
  }
  int count_named(const std::string& name) {
    int n = 0;
    for (const auto& [id, line] : sim_.contacts(mb_)) n += contact(line).display_name == name;
    return n;
  }
  // A CRM create that Exchange carried out before the daemon died, so that the store never
  // learnt its id: the local id and what Exchange created.
  struct LostCreate {
    std::string local_id;
    model::RemoteRef remote;
  };
  LostCreate create_then_crash(const std::string& json_text) {
    auto created = *store_->local_create(mb_, FolderKind::contacts, contact(json_text));
    auto pending = *store_->pending_writes(mb_, FolderKind::contacts);
    EXPECT_EQ(pending.size(), 1u);
    EXPECT_TRUE(store_->begin_write(pending.at(0)));
    auto sent = test::run(io_, remote_->ews->create(mb_, FolderKind::contacts, pending.at(0).item, created.local_id, false));
    EXPECT_TRUE(sent) << sent.error().message;
    return {created.local_id, sent ? *sent : model::RemoteRef{}};
  }
  std::string sim_path(const std::string& ews_id) {
    return "/sim/mailboxes/" + test::url_segment(mb_) + "/contacts/" + test::url_segment(ews_id);
  }

  const std::string mb_ = "agent1@contoso.onmicrosoft.com";
  bool expect_schema_violation_ = false;
  test::Simulator sim_{test::SimOptions{.mailboxes = 1, .contacts = 10}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST_F(WriteBackTest, ACrmContactIsCreatedInExchangeFieldByFieldAndNotEchoed) {
  sync();
  const auto want = contact(R"({"display_name":"Dana <&]]>\" Cruz","given_name":"Dana","surname":"Cruz","company":"Cruz & Co",
    "emails":[{"key":"EmailAddress1","address":"dana@example.com","name":"Dana Cruz"}],
    "phones":[{"key":"MobilePhone","number":"+1 555 0101"}],
    "addresses":[{"key":"Business","street":"1 Main St","city":"Austin","state":"TX","postal_code":"78701","country":"US"}],
    "birthday":"1979-06-30","notes":"Wants a pool.\nCash buyer.","categories":["Buyer"]})");
  auto created = store_->local_create(mb_, FolderKind::contacts, want);
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->remote.id.empty()) << "no Exchange id before it is written";

  auto feed_before = store_->changes(mb_, 0, 1000)->size();
  auto report = sync();
  EXPECT_EQ(report.written, 1);
  const auto item = stored(created->local_id);
  ASSERT_FALSE(item.remote.id.empty());
  auto remote = in_exchange(item.remote.id);
  ASSERT_TRUE(remote);
  remote->last_modified.reset();
  EXPECT_EQ(model::contact_to_json(*remote), model::contact_to_json(want));
  // Its own write, seen again by SyncFolderItems, is neither fetched nor reported to the CRM.
  EXPECT_EQ(report.created, 0);
  EXPECT_EQ(report.fetched, 0);
  EXPECT_EQ(store_->changes(mb_, 0, 1000)->size(), feed_before);
  EXPECT_TRUE(store_->pending_writes(mb_, FolderKind::contacts)->empty());
}

TEST_F(WriteBackTest, AnUpdateTouchesOnlyTheFieldsTheCrmChanged) {
  sync();
  auto items = *store_->items(mb_, FolderKind::contacts);
  const auto target = items.front();
  auto before = contact(target.payload_json);
  auto after = before;
  after.job_title = "Listing Agent";
  after.nickname.clear();
  after.emails.push_back({"EmailAddress3", "third@example.org", ""});
  after.phones = {{"HomePhone", "+1 555 0199"}};
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, target.local_id, after));
  // Meanwhile someone edits another field in Outlook: the CRM's update must not undo it... but
  // that is a conflict (the change key moved); here the mailbox is left alone.
  sim_.control("POST", "/sim/stats/reset");
  auto report = sync();
  EXPECT_EQ(report.written, 1);
  EXPECT_EQ(sim_.operation_count("UpdateItem"), 1);
  auto remote = in_exchange(target.remote.id);
  ASSERT_TRUE(remote);
  after.last_modified = remote->last_modified;
  EXPECT_EQ(model::contact_to_json(*remote), model::contact_to_json(after));
  EXPECT_NE(stored(target.local_id).remote.change_key, target.remote.change_key);
}

// Exchange to CRM to Exchange with no edits changes nothing in the mailbox.
TEST_F(WriteBackTest, ARoundTripWithoutEditsSendsNothing) {
  sync();
  const auto target = store_->items(mb_, FolderKind::contacts)->front();
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, target.local_id, contact(target.payload_json)));
  sim_.control("POST", "/sim/stats/reset");
  sync();
  EXPECT_EQ(sim_.operation_count("UpdateItem"), 0);
  EXPECT_EQ(stored(target.local_id).remote.change_key, target.remote.change_key);
  EXPECT_TRUE(store_->pending_writes(mb_, FolderKind::contacts)->empty());
}

TEST_F(WriteBackTest, ADeleteInTheCrmDeletesInExchange) {
  sync();
  const auto target = store_->items(mb_, FolderKind::contacts)->front();
  ASSERT_TRUE(*store_->local_delete(mb_, FolderKind::contacts, target.local_id));
  auto report = sync();
  EXPECT_EQ(report.written, 1);
  EXPECT_FALSE(in_exchange(target.remote.id));
  EXPECT_EQ(sim_.contacts(mb_).size(), 9u);
}

// The daemon dies after Exchange created the item and before the store recorded its id: the
// next attempt finds the tagged item instead of creating a second one.
TEST_F(WriteBackTest, ACreateOfUncertainOutcomeIsNotDuplicated) {
  sync();
  const auto created = create_then_crash(R"({"display_name":"Only Once"})");
  // ... crash. The next pass:
  auto report = sync();
  EXPECT_EQ(report.written, 1);
  EXPECT_EQ(count_named("Only Once"), 1);
  EXPECT_EQ(stored(created.local_id).remote.id, created.remote.id);
}

// The CRM edits an item whose create is in flight when the daemon dies: still one item in the
// mailbox, with the edit.
TEST_F(WriteBackTest, AnEditDuringAnUncertainCreateNeitherDuplicatesNorLosesIt) {
  sync();
  const auto created = create_then_crash(R"({"display_name":"In Flight"})");
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, created.local_id,
                                   contact(R"({"display_name":"In Flight","job_title":"Seller"})")));
  // ... the daemon died before recording the create. The next passes:
  sync();
  sync();
  EXPECT_EQ(count_named("In Flight"), 1);
  auto remote = in_exchange(stored(created.local_id).remote.id);
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->job_title, "Seller");
}

// An uncertain create that Exchange carried out, the item then edited in Outlook before the
// daemon finds it again by its tag: bringing it to the CRM's version writes only what the CRM
// changed since that attempt, and Outlook's edit stays. (It used to be reverted.)
TEST_F(WriteBackTest, AFoundAgainCreateKeepsWhatOutlookChangedSince) {
  sync();
  const auto created = create_then_crash(R"({"display_name":"Found Again"})");
  ASSERT_EQ(sim_.control("PATCH", sim_path(created.remote.id), R"({"company":"Outlook Realty"})").status, 200);
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, created.local_id,
                                   contact(R"({"display_name":"Found Again","job_title":"Buyer"})")));
  // ... the daemon died before recording the create. The next passes:
  sync();
  sync();
  EXPECT_EQ(count_named("Found Again"), 1);
  auto remote = in_exchange(created.remote.id);
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->job_title, "Buyer");
  EXPECT_EQ(remote->company, "Outlook Realty");
  EXPECT_EQ(contact(stored(created.local_id).payload_json).company, "Outlook Realty");
}

// The same with nothing changed in the CRM since the attempt: there is nothing to write, and
// the store still takes what Outlook changed (found by the soak: the store kept its own version
// at Exchange's change key, so no pull ever read the edit).
TEST_F(WriteBackTest, AFoundAgainCreateTheCrmLeftAloneTakesOutlooksChange) {
  sync();
  const auto created = create_then_crash(R"({"display_name":"Found Unchanged"})");
  ASSERT_EQ(sim_.control("PATCH", sim_path(created.remote.id), R"({"company":"Outlook Realty"})").status, 200);
  sync();
  sync();
  EXPECT_EQ(count_named("Found Unchanged"), 1);
  EXPECT_EQ(contact(stored(created.local_id).payload_json).company, "Outlook Realty");
  const auto line = sim_.contacts(mb_).at(created.remote.id);
  EXPECT_NE(line.find(stored(created.local_id).remote.change_key), std::string::npos)
      << "stored at Exchange's change key: " << line;
}

TEST_F(WriteBackTest, ConflictRemoteWinsKeepsTheLosingCrmVersion) {
  sync();
  const auto target = store_->items(mb_, FolderKind::contacts)->front();
  auto local = contact(target.payload_json);
  local.company = "CRM Realty";
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, target.local_id, local));
  ASSERT_EQ(sim_.control("PUT", sim_path(target.remote.id), R"({"display_name":"Changed In Outlook","company":"Outlook Inc"})").status, 200);

  auto report = sync();
  EXPECT_EQ(report.conflicts, 1);
  auto remote = in_exchange(target.remote.id);
  EXPECT_EQ(remote->company, "Outlook Inc");
  auto mine = contact(stored(target.local_id).payload_json);
  EXPECT_EQ(mine.company, "Outlook Inc");
  EXPECT_EQ(mine.display_name, "Changed In Outlook");
  bool reported = false;
  for (const auto& c : *store_->changes(mb_, 0, 1000)) reported |= c.kind == "conflict" && c.local_id == target.local_id;
  EXPECT_TRUE(reported);
  auto kept = *store_->conflicts(mb_);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].winner, "remote");
  EXPECT_EQ(contact(kept[0].losing_json).company, "CRM Realty") << "the CRM's losing version is kept";
  EXPECT_TRUE(store_->pending_writes(mb_, FolderKind::contacts)->empty());
}

TEST_F(WriteBackTest, ConflictLocalWinsWritesTheCrmVersionOverOutlooks) {
  build(SyncOptions{.conflict = ConflictPolicy::local_wins});
  sync();
  const auto target = store_->items(mb_, FolderKind::contacts)->front();
  auto local = contact(target.payload_json);
  local.company = "CRM Realty";
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, target.local_id, local));
  ASSERT_EQ(sim_.control("PUT", sim_path(target.remote.id), R"({"display_name":"Changed In Outlook","company":"Outlook Inc"})").status, 200);

  auto report = sync();
  EXPECT_EQ(report.conflicts, 1);
  EXPECT_EQ(report.written, 1);
  auto remote = in_exchange(target.remote.id);
  EXPECT_EQ(remote->company, "CRM Realty");
  EXPECT_EQ(remote->display_name, local.display_name);
  EXPECT_EQ(contact(stored(target.local_id).payload_json).company, "CRM Realty");
}

TEST_F(WriteBackTest, AModificationWinsOverADeletionOnTheOtherSide) {
  sync();
  const auto target = store_->items(mb_, FolderKind::contacts)->front();
  auto local = contact(target.payload_json);
  local.job_title = "Still A Client";
  ASSERT_TRUE(store_->local_update(mb_, FolderKind::contacts, target.local_id, local));
  ASSERT_EQ(sim_.control("DELETE", sim_path(target.remote.id)).status, 204);

  sync();  // the update meets the deletion; the item is created again
  sync();
  const auto item = stored(target.local_id);
  ASSERT_FALSE(item.remote.id.empty());
  EXPECT_NE(item.remote.id, target.remote.id);
  auto remote = in_exchange(item.remote.id);
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->job_title, "Still A Client");
}

// The CRM's new contacts go several to a CreateItem, each created once and linked to its row.
TEST_F(WriteBackTest, NewCrmContactsGoSeveralToACreateItem) {
  sync();
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i)
    ids.push_back(store_->local_create(mb_, FolderKind::contacts, contact(R"({"display_name":"Batch )" + std::to_string(i) + R"("})"))->local_id);
  sim_.control("POST", "/sim/stats/reset");
  auto report = sync();
  EXPECT_EQ(report.written, 7);
  const auto stats = json::parse(sim_.control("GET", "/sim/stats").body);
  EXPECT_EQ(stats.at("operations").as_object().at("CreateItem").as_int64(), 1) << stats;
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(count_named("Batch " + std::to_string(i)), 1);
    auto remote = in_exchange(stored(ids[static_cast<std::size_t>(i)]).remote.id);
    ASSERT_TRUE(remote) << i;
    EXPECT_EQ(remote->display_name, "Batch " + std::to_string(i)) << "each row linked to its own contact";
  }
  EXPECT_TRUE(store_->pending_writes(mb_, FolderKind::contacts)->empty());
}

// A CreateItem of several contacts whose answer is lost after Exchange created them: the next
// pass finds each by its tag, and none is created twice.
TEST_F(WriteBackTest, ABatchCreateOfUncertainOutcomeCreatesNoneTwice) {
  sync();
  for (const std::string kind : {"reset_mid", "truncated"}) {
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i)
      ids.push_back(store_->local_create(mb_, FolderKind::contacts,
                                         contact(R"({"display_name":")" + kind + " " + std::to_string(i) + R"("})"))->local_id);
    ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":")" + kind + R"(","count":1,"operation":"CreateItem"})").status, 204);
    // A cut connection ends the pass; a garbled answer has each looked up by its tag at once.
    auto first = test::run(io_, engine_->sync_folder(mb_, FolderKind::contacts));
    EXPECT_EQ(static_cast<bool>(first), kind == "truncated") << kind;
    EXPECT_EQ(count_named(kind + " 0"), 1) << "Exchange created them before the answer was lost";
    sync();
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(count_named(kind + " " + std::to_string(i)), 1) << kind << " " << i;
      EXPECT_FALSE(stored(ids[static_cast<std::size_t>(i)]).remote.id.empty());
    }
    EXPECT_TRUE(store_->pending_writes(mb_, FolderKind::contacts)->empty());
  }
}

TEST_F(WriteBackTest, ARefusedWriteIsKeptWithItsReasonAndDoesNotBlockTheRest) {
  if (!sim_.validating()) GTEST_FAIL() << "../shared/ews-schema is missing: the simulator refuses invalid requests by it";
  expect_schema_violation_ = true;
  sync();
  // A phone key Exchange does not know (the API refuses it; the store does not judge).
  auto bad = *store_->local_create(mb_, FolderKind::contacts, contact(R"({"display_name":"Bad","phones":[{"key":"Bogus","number":"1"}]})"));
  auto good = *store_->local_create(mb_, FolderKind::contacts, contact(R"({"display_name":"Good"})"));
  for (int pass = 0; pass < 3; ++pass) sync();
  EXPECT_FALSE(stored(good.local_id).remote.id.empty());
  auto outbox = *store_->outbox(mb_);
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].local_id, bad.local_id);
  EXPECT_EQ(outbox[0].state, "parked");
  EXPECT_NE(outbox[0].last_error.find("ErrorSchemaValidation"), std::string::npos) << outbox[0].last_error;
}

}  // namespace
}  // namespace exsync::sync
