// The n-th failure, for every n along one sync (in the spirit of Beast's fail_count streams and
// SQLite's I/O error tests): the n-th network operation (resolve, connect, TLS handshake, write,
// read) fails, for n = 1, 2, ... until one sync gets through without meeting it. After each, the
// store is consistent, a fault-free sync converges with Exchange, and nothing the CRM wrote is
// lost or written twice. The real engine, EWS adapter and SQLite store, against the simulator.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>

#include "exsync/auth/entra_token_source.hpp"
#include "exsync/ews/ews_service.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/item_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "../store/faulty_vfs.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;
namespace json = boost::json;

// The store's contacts as `exsyncd items` prints them, by Exchange id.
std::map<std::string, std::string> stored(store::SqliteStore& store, const std::string& mailbox) {
  std::map<std::string, std::string> out;
  for (const auto& item : *store.items(mailbox, FolderKind::contacts)) {
    auto payload = model::payload_from_json(FolderKind::contacts, item.payload_json);
    EXPECT_TRUE(payload);
    EXPECT_FALSE(out.contains(item.remote.id)) << "twice: " << item.remote.id;
    out[item.remote.id] = model::payload_to_json(*payload, model::ItemIdentity{item.local_id, item.remote});
  }
  return out;
}

// After a fault: fault-free syncs until the CRM's writes are through; then the store must hold
// exactly Exchange's contacts of `mailbox`, nothing lost and nothing twice.
void converge(boost::asio::io_context& io, SyncEngine& engine, store::SqliteStore& store, test::Simulator& sim,
              const std::string& mailbox) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto r = test::run(io, engine.sync_folder(mailbox, FolderKind::contacts));
    ASSERT_TRUE(r) << r.error().message();
    if (store.pending_writes(mailbox, FolderKind::contacts)->empty()) break;
  }
  EXPECT_TRUE(store.pending_writes(mailbox, FolderKind::contacts)->empty());
  const auto want = sim.contacts(mailbox);
  const auto got = stored(store, mailbox);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [id, line] : want) {
    ASSERT_TRUE(got.contains(id)) << line;
    EXPECT_EQ(test::comparable_contact(got.at(id)), test::comparable_contact(line));
  }
}

// How many of Exchange's contacts of `mailbox` contain `text`.
int in_exchange(test::Simulator& sim, const std::string& mailbox, const std::string& text) {
  int n = 0;
  for (const auto& [id, line] : sim.contacts(mailbox)) n += line.find(text) != std::string::npos;
  return n;
}

TEST(FailCountTest, TheNthNetworkOperationFailsForEveryNAlongOneSync) {
  test::Simulator sim{test::SimOptions{.mailboxes = 1, .contacts = 0}};
  test::TempDir dir;
  int n = 1;
  for (;; ++n) {
    SCOPED_TRACE("failing network operation " + std::to_string(n));
    ASSERT_LT(n, 200) << "the sync never got through";
    const std::string mb = "loop" + std::to_string(n) + "@contoso.onmicrosoft.com";
    ASSERT_EQ(sim.control("POST", "/sim/mailboxes", R"({"address":")" + mb + R"(","contacts":8})").status, 201);

    boost::asio::io_context io;
    std::atomic<int> countdown{0};  // the operation to fail, counting down; 0: none
    std::atomic<bool> met{false};
    auto options = sim.client_options();
    options.inject_failure = [&](std::string_view) {
      if (countdown.load() <= 0) return false;
      if (--countdown == 0) {
        met = true;
        return true;
      }
      return false;
    };
    auto client = std::move(*http::Client::create(io.get_executor(), options));
    auth::EntraTokenSource tokens(io.get_executor(), *client, SystemClock::instance(), sim.ropc_settings());
    ews::EwsService ews(*client, tokens, ews::EwsSettings{sim.base_url() + "/EWS/Exchange.asmx", 4});
    auto store = std::move(*store::SqliteStore::open(dir / (std::to_string(n) + ".db")));
    net::thread_pool pool(1);
    SyncOptions sync_options;
    sync_options.max_changes_per_page = 4;
    SyncEngine engine(ews, *store, pool, sync_options);

    ASSERT_TRUE(test::run(io, engine.sync_folder(mb, FolderKind::contacts)));
    // Changes on both sides: two new in Exchange, one gone there; one new and one edited in the CRM.
    // (One of the contacts synced before goes in Exchange, another is edited in the CRM: the
    // same sync every time, whatever ids the simulator hands out.)
    const auto seg = test::url_segment(mb);
    const auto synced = *store->items(mb, FolderKind::contacts);
    ASSERT_GE(synced.size(), 2u);
    sim.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"Remote new A"})");
    sim.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"Remote new B"})");
    sim.control("DELETE", "/sim/mailboxes/" + seg + "/contacts/" + test::url_segment(synced.front().remote.id));
    ASSERT_TRUE(store->local_create(mb, FolderKind::contacts, *model::contact_from_json(R"({"display_name":"CRM new"})")));
    const auto& edited = synced.back();
    auto contact = *model::contact_from_json(edited.payload_json);
    contact.job_title = "Edited in the CRM";
    ASSERT_TRUE(store->local_update(mb, FolderKind::contacts, edited.local_id, contact));

    countdown = n;
    auto faulted = test::run(io, engine.sync_folder(mb, FolderKind::contacts));
    const bool fault_met = met.load();
    countdown = 0;
    // The fault's sync may fail; the next ones, fault-free, converge.
    converge(io, engine, *store, sim, mb);
    if (HasFatalFailure()) return;
    EXPECT_EQ(in_exchange(sim, mb, "\"CRM new\""), 1) << "the CRM's contact exactly once in Exchange";
    EXPECT_EQ(in_exchange(sim, mb, "Edited in the CRM"), 1) << "the CRM's edit in Exchange";
    pool.join();
    if (!fault_met) {
      EXPECT_TRUE(faulted) << "no fault met, yet the sync failed";
      break;
    }
  }
  std::printf("fail count: every one of the %d network operations of the sync failed once\n", n - 1);
  EXPECT_GE(n, 8) << "a sync of this size takes more network operations";
  sim.expect_schema_valid_requests();
}

// The n-th write, sync or truncate of the store's files fails (SQLITE_IOERR), for every n along
// one sync with writes both ways. After each, the store reopens and passes its integrity check,
// and a fault-free sync converges: no page half applied, no CRM write lost or done twice.
TEST(FailCountTest, TheNthStoreWriteFailsForEveryNAlongOneSync) {
  test::FaultyVfs::install();
  test::Simulator sim{test::SimOptions{.mailboxes = 1, .contacts = 0}};
  test::TempDir dir;
  int failed_syncs = 0;  // faults the sync reported (the others were retried or came after the work)
  int n = 1;
  for (;; ++n) {
    SCOPED_TRACE("failing store operation " + std::to_string(n));
    ASSERT_LT(n, 400) << "the sync never got through";
    const std::string mb = "disk" + std::to_string(n) + "@contoso.onmicrosoft.com";
    ASSERT_EQ(sim.control("POST", "/sim/mailboxes", R"({"address":")" + mb + R"(","contacts":8})").status, 201);
    const auto path = dir / (std::to_string(n) + ".db");
    boost::asio::io_context io;
    auto client = std::move(*http::Client::create(io.get_executor(), sim.client_options()));
    auth::EntraTokenSource tokens(io.get_executor(), *client, SystemClock::instance(), sim.ropc_settings());
    ews::EwsService ews(*client, tokens, ews::EwsSettings{sim.base_url() + "/EWS/Exchange.asmx", 4});
    SyncOptions sync_options;
    sync_options.max_changes_per_page = 4;
    bool fault_met = false;
    {
      auto store = std::move(*store::SqliteStore::open(path));
      net::thread_pool pool(1);
      SyncEngine engine(ews, *store, pool, sync_options);
      ASSERT_TRUE(test::run(io, engine.sync_folder(mb, FolderKind::contacts)));
      const auto seg = test::url_segment(mb);
      const auto gone = store->items(mb, FolderKind::contacts)->front().remote.id;  // synced before
      sim.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"Remote new A"})");
      sim.control("DELETE", "/sim/mailboxes/" + seg + "/contacts/" + test::url_segment(gone));
      ASSERT_TRUE(store->local_create(mb, FolderKind::contacts, *model::contact_from_json(R"({"display_name":"CRM new"})")));

      test::FaultyVfs::fail_at(n);
      auto faulted = test::run(io, engine.sync_folder(mb, FolderKind::contacts));
      // The pages and outcomes the store held back are committed under the same faults.
      if (faulted && !store->settle()) faulted = Fail{SyncError{SyncError::Kind::store}};
      fault_met = test::FaultyVfs::met();
      failed_syncs += fault_met && !faulted;
      test::FaultyVfs::fail_at(0);
      pool.join();
    }
    // As after a crash at that point: the store opens, passes its check, and converges.
    auto store = store::SqliteStore::open(path, {.check_integrity = true});
    ASSERT_TRUE(store) << store.error().message;
    net::thread_pool pool(1);
    SyncEngine engine(ews, **store, pool, sync_options);
    converge(io, engine, **store, sim, mb);
    if (HasFatalFailure()) return;
    EXPECT_EQ(in_exchange(sim, mb, "\"CRM new\""), 1) << "the CRM's contact exactly once in Exchange";
    pool.join();
    if (!fault_met) break;
  }
  std::printf("fail count: every one of the %d store writes and syncs of the sync failed once; %d failed the sync\n",
              n - 1, failed_syncs);
  EXPECT_GE(n, 10);
  EXPECT_GT(failed_syncs, 0) << "the faults reached the store";
}

}  // namespace
}  // namespace exsync::sync
