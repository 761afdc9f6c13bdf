#include "exsync/store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "exsync/core/time_format.hpp"
#include "exsync/model/contact_json.hpp"
#include "faulty_vfs.hpp"
#include "test_support.hpp"

namespace exsync::store {
namespace {

using model::FolderKind;

model::RemoteItem contact(const std::string& id, const std::string& ck, const std::string& name) {
  model::Contact c;
  c.display_name = name;
  return {{id, ck}, c};
}

// A page of `upserts` that moves the folder to `cursor` (and, `completes`, ends the pass).
model::PageCommit page_of(std::vector<model::RemoteItem> upserts, std::string cursor, bool completes = false) {
  model::PageCommit page;
  page.upserts = std::move(upserts);
  page.next_cursor = std::move(cursor);
  page.completes_sync = completes;
  return page;
}

// Runs `body` in a child process that then ends with its answer as exit status, through
// _exit: as SIGKILL, no destructor runs and nothing is committed on the way out. The status, or
// -1 when the child did not exit.
template <typename F>
int in_child_that_dies(F body) {
  const pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) _exit(body());
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> open() {
    auto s = SqliteStore::open(dir_ / "exsync.db");
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }
  std::map<std::string, std::string> names(SqliteStore& s, const std::string& mailbox = "a@x.com") {
    std::map<std::string, std::string> out;
    for (const auto& item : *s.items(mailbox, FolderKind::contacts))
      out[item.remote.id] = model::contact_from_json(item.payload_json)->display_name;
    return out;
  }
  test::TempDir dir_;
};

TEST_F(SqliteStoreTest, PageAndCursorCommitTogetherAndSurviveReopen) {
  {
    auto s = open();
    auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "state-1", true);
    auto out = s->commit_page("a@x.com", FolderKind::contacts, page);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->created, 2);
  }
  auto s = open();
  EXPECT_EQ(s->cursor("a@x.com", FolderKind::contacts)->cursor, "state-1");
  EXPECT_EQ(names(*s), (std::map<std::string, std::string>{{"A", "Ann"}, {"B", "Bob"}}));
  EXPECT_EQ(s->cursor("other@x.com", FolderKind::contacts)->cursor, "");
}

// Defence in depth for tenant isolation: an answer meant for one mailbox, delivered as another's
// (a server or proxy out of step), names items the first mailbox holds. None of it is stored.
TEST_F(SqliteStoreTest, AnItemAnotherMailboxHoldsIsNeverStoredForThisOne) {
  auto s = open();
  auto mine = page_of({contact("A1", "1", "Ann of agent1")}, "agent1-state-1");
  ASSERT_TRUE(s->commit_page("agent1@x.com", FolderKind::contacts, mine));

  model::PageCommit stray;  // agent1's next page, taken as agent2's
  stray.upserts = {contact("B1", "1", "Bea of agent2"), contact("A1", "2", "Ann of agent1, edited")};
  stray.next_cursor = "agent1-state-2";
  auto refused = s->commit_page("agent2@x.com", FolderKind::contacts, stray);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, model::StoreErrorKind::foreign_item);
  EXPECT_NE(refused.error().message.find("agent1@x.com"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(s->items("agent2@x.com", FolderKind::contacts)->empty()) << "nothing of the page, not even B1";
  EXPECT_EQ(s->cursor("agent2@x.com", FolderKind::contacts)->cursor, "") << "nor its sync state";
  EXPECT_EQ(names(*s, "agent1@x.com"), (std::map<std::string, std::string>{{"A1", "Ann of agent1"}}));
  // The same item in another folder of the same mailbox is no foreign item (a move).
  auto own = page_of({contact("A1", "2", "Ann of agent1")}, "agent1-calendar");
  EXPECT_TRUE(s->commit_page("agent1@x.com", FolderKind::calendar, own));
}

// An initial sync's progress: the folder's size in Exchange is shown until a page completes the
// sync, across a restart in the middle.
TEST_F(SqliteStoreTest, InitialSyncProgressLastsUntilAPageCompletesTheSync) {
  {
    auto s = open();
    ASSERT_TRUE(s->begin_initial_sync("a@x.com", FolderKind::contacts, 3));
    auto first = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1");
    ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, first));
  }
  auto s = open();
  auto during = s->status("a@x.com");
  ASSERT_EQ(during->size(), 1u);
  EXPECT_EQ(during->front().items, 2);
  EXPECT_EQ(during->front().initial_total, 3);
  auto last = page_of({contact("C", "1", "Cy")}, "s2", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, last));
  EXPECT_EQ(s->status("a@x.com")->front().items, 3);
  EXPECT_FALSE(s->status("a@x.com")->front().initial_total) << "synced: no progress to show";
}

// A damaged file stops the daemon at start with SQLite's finding and what to do, instead of
// failing somewhere in a sync later.
TEST_F(SqliteStoreTest, ADamagedFileFailsTheIntegrityCheckAtOpen) {
  {
    auto s = open();
    model::PageCommit page;
    for (int i = 0; i < 400; ++i) page.upserts.push_back(contact("id" + std::to_string(i), "1", std::string(200, 'x')));
    page.next_cursor = "s1";
    page.completes_sync = true;
    ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  }
  {
    auto healthy = SqliteStore::open(dir_ / "exsync.db", {.check_integrity = true});
    ASSERT_TRUE(healthy) << healthy.error().message;
  }
  // Scribble over a page in the middle of the file (after the WAL was checkpointed on close).
  ASSERT_GT(std::filesystem::file_size(dir_ / "exsync.db"), 16u * 4096u);
  test::damage_database(dir_ / "exsync.db");
  auto damaged = SqliteStore::open(dir_ / "exsync.db", {.check_integrity = true});
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().kind, model::StoreErrorKind::corrupt);
  EXPECT_NE(damaged.error().message.find("failed its integrity check"), std::string::npos) << damaged.error().message;
  EXPECT_NE(damaged.error().message.find("exsyncd backup"), std::string::npos);
}

// The online backup: a checked, complete copy under a new name; an existing file is never
// overwritten, and a failed copy leaves nothing behind.
TEST_F(SqliteStoreTest, ABackupIsACompleteCheckedCopyUnderANewName) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  // The CRM has read the page, so it is committed; the store stays open (as under a running
  // daemon), its last page still in the WAL.
  ASSERT_EQ(names(*s).size(), 2u);
  auto report = backup_store(dir_ / "exsync.db", dir_ / "copy.db");
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->schema_version, SqliteStore::kSchemaVersion);
  EXPECT_GT(report->bytes, 0);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "copy.db.partial"));
  {
    auto copy = SqliteStore::open(dir_ / "copy.db", {.check_integrity = true});
    ASSERT_TRUE(copy) << copy.error().message;
    EXPECT_EQ(names(**copy), (std::map<std::string, std::string>{{"A", "Ann"}, {"B", "Bob"}}));
    EXPECT_EQ((*copy)->cursor("a@x.com", FolderKind::contacts)->cursor, "s1");
  }
  auto again = backup_store(dir_ / "exsync.db", dir_ / "copy.db");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("exists already"), std::string::npos);
  auto missing = backup_store(dir_ / "nothing.db", dir_ / "copy2.db");
  ASSERT_FALSE(missing);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "copy2.db"));
}

TEST_F(SqliteStoreTest, UpdatesKeepTheLocalIdAndDeletesRemoveRows) {
  auto s = open();
  auto first = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, first));
  std::string local_id;
  for (const auto& item : *s->items("a@x.com", FolderKind::contacts))
    if (item.remote.id == "A") local_id = item.local_id;

  model::PageCommit second;
  second.upserts = {contact("A", "2", "Ann Lee")};
  second.deletions = {"B", "never-seen"};
  second.next_cursor = "s2";
  second.completes_sync = true;
  auto out = s->commit_page("a@x.com", FolderKind::contacts, second);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->updated, 1);
  EXPECT_EQ(out->deleted, 1);
  auto items = *s->items("a@x.com", FolderKind::contacts);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].local_id, local_id);
  EXPECT_EQ(items[0].remote.change_key, "2");
}

TEST_F(SqliteStoreTest, MailboxesAreIsolated) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  page.upserts = {contact("B", "1", "Bob")};
  ASSERT_TRUE(s->commit_page("b@x.com", FolderKind::contacts, page));
  page.upserts.clear();
  page.deletions = {"A", "B"};  // a deletion names items of its own mailbox only
  page.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  EXPECT_TRUE(names(*s, "a@x.com").empty());
  EXPECT_EQ(names(*s, "b@x.com").size(), 1u);
}

TEST_F(SqliteStoreTest, ResyncMatchesByRemoteIdAndRemovesWhatWasNotSeen) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob"), contact("C", "1", "Cy")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  const auto before = *s->items("a@x.com", FolderKind::contacts);

  ASSERT_TRUE(s->begin_resync("a@x.com", FolderKind::contacts));
  auto cur = *s->cursor("a@x.com", FolderKind::contacts);
  EXPECT_EQ(cur.cursor, "");
  EXPECT_TRUE(cur.resyncing);
  // The resync reports A unchanged, B changed; C is gone. Two pages, the first not final.
  model::PageCommit p1;
  p1.unchanged = {"A"};
  p1.next_cursor = "r1";
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, p1));
  EXPECT_EQ(names(*s).size(), 3u) << "nothing is removed before the resync completes";
  auto p2 = page_of({contact("B", "2", "Bobby")}, "r2", true);
  auto out = s->commit_page("a@x.com", FolderKind::contacts, p2);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->created, 0);
  EXPECT_EQ(out->deleted, 1);
  EXPECT_EQ(names(*s), (std::map<std::string, std::string>{{"A", "Ann"}, {"B", "Bobby"}}));
  EXPECT_FALSE(s->cursor("a@x.com", FolderKind::contacts)->resyncing);
  std::map<std::string, std::string> ids_before;
  for (const auto& item : before) ids_before[item.remote.id] = item.local_id;
  for (const auto& item : *s->items("a@x.com", FolderKind::contacts))
    EXPECT_EQ(item.local_id, ids_before[item.remote.id]) << "a resync keeps local ids";
}

TEST_F(SqliteStoreTest, UnchangedReportsOnlyMatchingChangeKeys) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  auto same = s->unchanged("a@x.com", FolderKind::contacts, {{"A", "1"}, {"B", "2"}, {"Z", "1"}});
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, std::set<std::string>{"A"});
}

// After a restart the daemon puts mailboxes with work for Exchange first in line.
TEST_F(SqliteStoreTest, MailboxesWithPendingWorkAreThoseWithWritesOrMessagesWaiting) {
  auto s = open();
  model::PageCommit page;
  page.next_cursor = "state-1";
  for (const auto* mb : {"idle@x.com", "writer@x.com", "sender@x.com"})
    ASSERT_TRUE(s->commit_page(mb, FolderKind::contacts, page));
  EXPECT_TRUE(s->mailboxes_with_pending_work()->empty());
  model::Contact c;
  c.display_name = "New lead";
  ASSERT_TRUE(s->local_create("writer@x.com", FolderKind::contacts, c));
  model::OutgoingMessage m;
  m.to = {{"Ann", "ann@example.com"}};
  m.subject = "Showing";
  ASSERT_TRUE(s->queue_message("sender@x.com", m));
  EXPECT_EQ(*s->mailboxes_with_pending_work(), (std::vector<std::string>{"sender@x.com", "writer@x.com"}));
}

TEST_F(SqliteStoreTest, AStoreFromANewerVersionIsRefused) {
  open();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "exsync.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto s = SqliteStore::open(dir_ / "exsync.db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, model::StoreErrorKind::corrupt);
  EXPECT_NE(s.error().message.find("newer than this exsyncd"), std::string::npos);
}

// What another process (a backup, the operator's `exsyncd items`) sees of the file.
std::int64_t rows_seen_by_another_process(const std::filesystem::path& db, const char* sql) {
  sqlite3* other = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &other, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  std::int64_t n = -1;
  if (sqlite3_prepare_v2(other, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(other);
  return n;
}

// The engine's pages go behind: another process sees them, with their cursor, shortly after,
// without anything else happening in the store.
TEST_F(SqliteStoreTest, AnotherProcessSeesTheEnginesPagesWithinMoments) {
  auto s = open();
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page_of({contact("A", "1", "Ann")}, "s1")));
  const auto seen = [&] {
    return rows_seen_by_another_process(dir_ / "exsync.db",
                                        "SELECT count(*) FROM items i JOIN folder_state f ON f.mailbox_id = i.mailbox_id "
                                        "WHERE f.cursor = 's1'");
  };
  for (int i = 0; i < 500 && seen() != 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(seen(), 1);
}

// A crash (the process gone at once, nothing unwound) takes back at most the engine's last pages,
// each whole with its cursor; the CRM's write, and every page before it, stay.
TEST_F(SqliteStoreTest, ACrashTakesBackOnlyTheEnginesLastPagesEachWhole) {
  ASSERT_EQ(in_child_that_dies([&] {
              auto s = SqliteStore::open(dir_ / "exsync.db");
              if (!s) return 2;
              if (!(*s)->commit_page("a@x.com", FolderKind::contacts, page_of({contact("A", "1", "Ann")}, "s1")))
                return 3;
              model::Contact c;
              c.display_name = "Cy";
              if (!(*s)->local_create("a@x.com", FolderKind::contacts, c)) return 4;
              if (!(*s)->commit_page("a@x.com", FolderKind::contacts, page_of({contact("B", "1", "Bob")}, "s2")))
                return 5;
              s->release();  // ends with the store still open
              return 0;
            }),
            0);

  auto s = SqliteStore::open(dir_ / "exsync.db", {.check_integrity = true});
  ASSERT_TRUE(s) << s.error().message;
  std::set<std::string> names;
  for (const auto& item : *(*s)->items("a@x.com", FolderKind::contacts))
    names.insert(model::contact_from_json(item.payload_json)->display_name);
  EXPECT_TRUE(names.contains("Ann")) << "the page before the CRM's write was committed with it";
  EXPECT_TRUE(names.contains("Cy")) << "the CRM's write is durable when the call returns";
  const auto cursor = (*s)->cursor("a@x.com", FolderKind::contacts)->cursor;
  ASSERT_TRUE(cursor == "s1" || cursor == "s2") << cursor;
  EXPECT_EQ(names.contains("Bob"), cursor == "s2") << "the last page whole, with its cursor, or not at all";
}

// Two mailboxes record their attempts before either is flushed: the first one's make_durable()
// puts both on disk, and the second has nothing left to flush. Seen after a crash that comes
// before the second's make_durable().
TEST_F(SqliteStoreTest, AttemptsRecordedBetweenTwoFlushesReachTheDiskWithTheFirst) {
  ASSERT_EQ(in_child_that_dies([&] {
              auto s = SqliteStore::open(dir_ / "exsync.db");
              if (!s) return 2;
              model::Contact c;
              c.display_name = "Cy";
              for (const char* mb : {"a@x.com", "b@x.com"})
                if (!(*s)->local_create(mb, FolderKind::contacts, c)) return 3;
              auto a = *(*s)->pending_writes("a@x.com", FolderKind::contacts);
              auto b = *(*s)->pending_writes("b@x.com", FolderKind::contacts);
              auto first = (*s)->record_attempts(a);
              auto second = (*s)->record_attempts(b);
              if (!first || !second || !first->begun.front() || !second->begun.front()) return 4;
              if (first->ticket != second->ticket) return 5;
              if (!(*s)->make_durable(first->ticket)) return 6;
              s->release();  // ends before b's make_durable(), with the store still open
              return 0;
            }),
            0)
      << "5: the two were not recorded in one transaction";
  auto s = open();
  for (const char* mb : {"a@x.com", "b@x.com"}) {
    auto writes = *s->pending_writes(mb, FolderKind::contacts);
    ASSERT_EQ(writes.size(), 1u) << mb;
    EXPECT_EQ(writes[0].attempts, 1) << mb << ": its attempt was on disk before anything could be sent";
  }
}

// Should the flush that holds a mailbox's attempts fail (a disk error), make_durable() says so,
// also when asked again, and nothing of them is recorded: the engine sends none of them.
TEST_F(SqliteStoreTest, AttemptsWhoseFlushFailsAreNeverReportedDurable) {
  test::FaultyVfs::install();
  auto s = open();
  model::Contact c;
  c.display_name = "Cy";
  ASSERT_TRUE(s->local_create("a@x.com", FolderKind::contacts, c));
  auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  auto begun = s->record_attempts(writes);
  ASSERT_TRUE(begun) << begun.error().message;
  test::FaultyVfs::fail_at(1);
  auto durable = s->make_durable(begun->ticket);
  const bool met = test::FaultyVfs::met();
  test::FaultyVfs::fail_at(0);
  ASSERT_TRUE(met);
  ASSERT_FALSE(durable);
  EXPECT_FALSE(s->make_durable(begun->ticket)) << "the failure stays with its ticket";
  writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].attempts, 0);
  auto again = s->record_attempts(writes);
  ASSERT_TRUE(again);
  EXPECT_NE(again->ticket, begun->ticket);
  EXPECT_TRUE(s->make_durable(again->ticket));
  s.reset();
  s = open();
  EXPECT_EQ(s->pending_writes("a@x.com", FolderKind::contacts)->front().attempts, 1);
}

TEST_F(SqliteStoreTest, AFileThatIsNotADatabaseIsRefused) {
  test::write_file(dir_ / "exsync.db", std::string(4096, 'x'));
  auto s = SqliteStore::open(dir_ / "exsync.db");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, model::StoreErrorKind::corrupt);
}

TEST_F(SqliteStoreTest, AFailedCommitLeavesTheStoreAsItWas) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  ASSERT_EQ(names(*s).size(), 1u);  // read by the CRM, so committed
  // Another connection holds the write lock past the busy timeout: the commit fails whole.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "exsync.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto next = page_of({contact("B", "1", "Bob")}, "s2");
  auto failed = s->commit_page("a@x.com", FolderKind::contacts, next);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().kind, model::StoreErrorKind::busy);
  EXPECT_EQ(s->cursor("a@x.com", FolderKind::contacts)->cursor, "s1");
  EXPECT_EQ(names(*s).size(), 1u);
}

TEST_F(SqliteStoreTest, EveryAppliedChangeEntersTheFeedInOrder) {
  auto s = open();
  auto p1 = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, p1));
  model::PageCommit p2;
  p2.upserts = {contact("A", "2", "Ann Lee")};
  p2.deletions = {"B"};
  p2.next_cursor = "s2";
  p2.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, p2));

  auto feed = s->changes("a@x.com", 0, 100);
  ASSERT_TRUE(feed);
  ASSERT_EQ(feed->size(), 4u);
  std::vector<std::string> kinds;
  for (const auto& c : *feed) kinds.push_back(c.kind + ":" + c.remote_id);
  EXPECT_EQ(kinds, (std::vector<std::string>{"created:A", "created:B", "updated:A", "deleted:B"}));
  EXPECT_TRUE((*feed)[3].current == std::nullopt) << "a deleted item has no current state";
  ASSERT_TRUE((*feed)[2].current);
  EXPECT_EQ((*feed)[2].current->remote.change_key, "2");
  // Following along: after the last seen seq, nothing; a cursor is per store, not per page.
  EXPECT_TRUE(s->changes("a@x.com", (*feed)[3].seq, 100)->empty());
  EXPECT_EQ(s->changes("a@x.com", (*feed)[1].seq, 1)->size(), 1u);
  EXPECT_TRUE(s->changes("b@x.com", 0, 100)->empty());
}

// The CRM reads when each change was applied; a page's rows take the page's time (formatted
// once for the page), in the feed's format, as every other row's default writes it.
TEST_F(SqliteStoreTest, EachFeedEntryCarriesTheTimeItsPageWasApplied) {
  auto s = open();
  const auto before = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page_of({contact("A", "1", "Ann")}, "s1")));
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page_of({contact("A", "2", "Ann Lee")}, "s2")));
  model::PageCommit gone;
  gone.deletions = {"A"};
  gone.next_cursor = "s3";
  gone.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, gone));
  const auto after = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());

  auto feed = s->changes("a@x.com", 0, 100);
  ASSERT_TRUE(feed);
  ASSERT_EQ(feed->size(), 3u);
  for (const auto& c : *feed) {
    SCOPED_TRACE(c.kind + " at " + c.at);
    ASSERT_EQ(c.at.size(), 20u) << "YYYY-MM-DDTHH:MM:SSZ";
    EXPECT_EQ(c.at.back(), 'Z');
    const auto at = parse_xs_datetime(c.at);
    ASSERT_TRUE(at);
    EXPECT_GE(*at, before);
    EXPECT_LE(*at, after);
  }
}

TEST_F(SqliteStoreTest, AFailureIsRecordedUntilTheNextCommittedPage) {
  auto s = open();
  ASSERT_TRUE(s->record_failure("a@x.com", FolderKind::contacts, "mailbox_not_found: no such mailbox"));
  auto st = s->status("a@x.com");
  ASSERT_TRUE(st);
  ASSERT_EQ(st->size(), 1u);
  EXPECT_EQ((*st)[0].last_error, "mailbox_not_found: no such mailbox");
  EXPECT_TRUE((*st)[0].last_success.empty());
  auto page = page_of({contact("A", "1", "Ann")}, "s1");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  st = s->status("a@x.com");
  EXPECT_TRUE((*st)[0].last_error.empty());
  EXPECT_FALSE((*st)[0].last_success.empty());
  EXPECT_EQ((*st)[0].items, 1);
}

TEST_F(SqliteStoreTest, PagesOfItemsFollowLocalIdOrder) {
  auto s = open();
  model::PageCommit page;
  for (int i = 0; i < 25; ++i) page.upserts.push_back(contact("R" + std::to_string(i), "1", "N" + std::to_string(i)));
  page.next_cursor = "s1";
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  std::set<std::string> seen;
  std::string after;
  int pages = 0;
  for (;;) {
    auto batch = s->items_page("a@x.com", FolderKind::contacts, after, 10);
    ASSERT_TRUE(batch);
    if (batch->empty()) break;
    ++pages;
    for (const auto& item : *batch) EXPECT_TRUE(seen.insert(item.local_id).second);
    after = batch->back().local_id;
  }
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
  auto one = s->item("a@x.com", FolderKind::contacts, *seen.begin());
  ASSERT_TRUE(one && *one);
  EXPECT_FALSE(*s->item("a@x.com", FolderKind::contacts, "nope"));
}

// A store written by the first release (schema 1) opens, keeps its items and cursor, and gains
// the changes feed.
// A store left at any earlier schema version (an exsyncd upgraded after any release) migrates to
// the current one with its data, passes its integrity check, and works.
TEST_F(SqliteStoreTest, MigratesFromEveryEarlierSchemaVersion) {
  for (int version = 1; version < SqliteStore::kSchemaVersion; ++version) {
    SCOPED_TRACE("from version " + std::to_string(version));
    const auto path = dir_ / ("v" + std::to_string(version) + ".db");
    {
      auto old = SqliteStore::open(path, {.migrate_to = version});
      ASSERT_TRUE(old) << old.error().message;
    }
    // Rows written as that version's exsyncd would: plain SQL against its tables.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* v = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, nullptr);
    ASSERT_EQ(sqlite3_step(v), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(v, 0), version);
    sqlite3_finalize(v);
    const std::string rows =
        "INSERT INTO mailboxes(id, address) VALUES (1, 'a@x.com');"
        "INSERT INTO folder_state(mailbox_id, folder, cursor) VALUES (1, 'contacts', 'old-state');"
        "INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data) VALUES "
        "('L1', 1, 'contacts', 'A', '1', '{\"display_name\":\"Ann\"}');";
    ASSERT_EQ(sqlite3_exec(db, rows.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);

    auto s = SqliteStore::open(path, {.check_integrity = true});
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->cursor("a@x.com", FolderKind::contacts)->cursor, "old-state");
    EXPECT_EQ(names(**s), (std::map<std::string, std::string>{{"A", "Ann"}}));
    // Every later feature works on the migrated file: the feed, CRM writes, the outbox.
    auto page = page_of({contact("B", "1", "Bob")}, "new-state", true);
    ASSERT_TRUE((*s)->commit_page("a@x.com", FolderKind::contacts, page));
    EXPECT_EQ((*s)->changes("a@x.com", 0, 10)->size(), 1u);
    ASSERT_TRUE((*s)->local_create("a@x.com", FolderKind::contacts, *model::contact_from_json(R"({"display_name":"Cy"})")));
    EXPECT_EQ((*s)->pending_writes("a@x.com", FolderKind::contacts)->size(), 1u);
    ASSERT_TRUE((*s)->begin_initial_sync("a@x.com", FolderKind::calendar, 5));
    EXPECT_EQ((*s)->status("a@x.com")->size(), 2u);
  }
}

TEST_F(SqliteStoreTest, MigratesAVersion1Store) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "exsync.db").c_str(), &db), SQLITE_OK);
  const char* v1 = R"sql(
CREATE TABLE mailboxes (id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE);
CREATE TABLE folder_state (mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id), folder TEXT NOT NULL,
  cursor TEXT NOT NULL DEFAULT '', resyncing INTEGER NOT NULL DEFAULT 0, last_synced_at TEXT,
  PRIMARY KEY (mailbox_id, folder));
CREATE TABLE items (id TEXT PRIMARY KEY, mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id), folder TEXT NOT NULL,
  remote_id TEXT NOT NULL, change_key TEXT NOT NULL, data TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')), UNIQUE (mailbox_id, folder, remote_id));
INSERT INTO mailboxes VALUES (1, 'a@x.com');
INSERT INTO folder_state(mailbox_id, folder, cursor) VALUES (1, 'contacts', 'old-state');
INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data) VALUES ('L1', 1, 'contacts', 'A', '1', '{"display_name":"Ann"}');
PRAGMA user_version = 1;
)sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->cursor("a@x.com", FolderKind::contacts)->cursor, "old-state");
  EXPECT_EQ(names(*s), (std::map<std::string, std::string>{{"A", "Ann"}}));
  model::PageCommit page;
  page.deletions = {"A"};
  page.next_cursor = "new-state";
  page.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  auto feed = s->changes("a@x.com", 0, 10);
  ASSERT_EQ(feed->size(), 1u);
  EXPECT_EQ((*feed)[0].local_id, "L1");
}

// Deletions are marked on their pages and removed when the pass completes, all of them at once
// or, beyond the guard's share of the folder's size before the burst, none until confirmed.
TEST_F(SqliteStoreTest, DeletionsWaitForThePassAndABurstBeyondTheShareIsHeldWhole) {
  auto s = open();
  model::PageCommit all;
  for (int i = 0; i < 20; ++i) all.upserts.push_back(contact("R" + std::to_string(i), "1", "N" + std::to_string(i)));
  all.next_cursor = "s0";
  all.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, all));
  // Three pages of four deletions each: 12 of 20 is more than half.
  for (int page = 0; page < 3; ++page) {
    model::PageCommit p;
    for (int i = 0; i < 4; ++i) p.deletions.push_back("R" + std::to_string(page * 4 + i));
    p.next_cursor = "s" + std::to_string(page + 1);
    p.completes_sync = page == 2;
    p.max_delete_share = 0.5;
    auto out = s->commit_page("a@x.com", FolderKind::contacts, p);
    ASSERT_TRUE(out);
    EXPECT_EQ(out->deleted, 0);
    EXPECT_EQ(out->deletions_held, page == 2 ? 12 : 0);
    if (page == 2) {
      EXPECT_EQ(out->burst_base, 20);
    }
  }
  EXPECT_EQ(names(*s).size(), 20u) << "the CRM still sees every held item";
  EXPECT_EQ((*s->status("a@x.com"))[0].deletions_held, 12);
  EXPECT_TRUE(s->changes("a@x.com", 20, 100)->empty()) << "nothing entered the feed";
  // Later passes keep them held: the burst is measured against the 20, not the 20 still held.
  model::PageCommit next;
  next.deletions = {"R12"};
  next.next_cursor = "s4";
  next.completes_sync = true;
  next.max_delete_share = 0.5;
  EXPECT_EQ(s->commit_page("a@x.com", FolderKind::contacts, next)->deletions_held, 13);
  ASSERT_TRUE(*s->confirm_deletions("a@x.com", FolderKind::contacts));
  model::PageCommit quiet;
  quiet.next_cursor = "s5";
  quiet.completes_sync = true;
  quiet.max_delete_share = 0.5;
  auto applied = s->commit_page("a@x.com", FolderKind::contacts, quiet);
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->deleted, 13);
  EXPECT_EQ(applied->deletions_held, 0);
  EXPECT_EQ(names(*s).size(), 7u);
  EXPECT_EQ(s->changes("a@x.com", 20, 100)->size(), 13u);
  EXPECT_FALSE(*s->confirm_deletions("a@x.com", FolderKind::contacts)) << "nothing is held any more";
}

// A resync after the mailbox's sync state was lost must keep what the CRM created and the
// mailbox does not have yet, pending or parked, with its outbox entry.
TEST_F(SqliteStoreTest, AResyncKeepsTheCrmsNewItemsAndTheirOutboxEntries) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  model::Contact c;
  c.display_name = "New in the CRM";
  const auto created = *s->local_create("a@x.com", FolderKind::contacts, c);
  c.display_name = "Parked in the CRM";
  const auto parked = *s->local_create("a@x.com", FolderKind::contacts, c);
  auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 2u);
  ASSERT_TRUE(s->fail_write(writes[1], "invalid_item: refused", true));

  ASSERT_TRUE(s->begin_resync("a@x.com", FolderKind::contacts));
  model::PageCommit again;
  again.unchanged = {"A"};
  again.next_cursor = "r1";
  again.completes_sync = true;
  auto out = s->commit_page("a@x.com", FolderKind::contacts, again);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->deleted, 0);
  EXPECT_EQ(s->items("a@x.com", FolderKind::contacts)->size(), 3u);
  writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].local_id, created.local_id);
  const auto outbox = *s->outbox("a@x.com");
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_EQ(outbox[1].local_id, parked.local_id);
  EXPECT_EQ(outbox[1].state, "parked");
}

// An outbox entry whose item is gone (a store written by an older exsyncd, a hand edit) is
// parked with the reason; the other entries are still read and written.
TEST_F(SqliteStoreTest, AnOutboxEntryWhoseItemIsGoneIsParkedNotFatal) {
  auto s = open();
  model::Contact c;
  c.display_name = "Orphan";
  const auto orphan = *s->local_create("a@x.com", FolderKind::contacts, c);
  c.display_name = "Fine";
  const auto fine = *s->local_create("a@x.com", FolderKind::contacts, c);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "exsync.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql = "DELETE FROM items WHERE id = '" + orphan.local_id + "'";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  auto writes = s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_TRUE(writes) << writes.error().message;
  ASSERT_EQ(writes->size(), 1u);
  EXPECT_EQ((*writes)[0].local_id, fine.local_id);
  const auto outbox = *s->outbox("a@x.com");
  ASSERT_EQ(outbox.size(), 2u);
  EXPECT_EQ(outbox[0].state, "parked");
  EXPECT_NE(outbox[0].last_error.find("no longer in the store"), std::string::npos) << outbox[0].last_error;
}

// The engine read an update, the CRM deleted the item, then the engine learns the mailbox
// deleted it too: the stale restore changes nothing, and the CRM's delete is what remains.
TEST_F(SqliteStoreTest, TransitionsOnAStaleOutboxEntryChangeNothing) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  const auto items = *s->items("a@x.com", FolderKind::contacts);
  for (const auto& item : items) {
    auto c = *model::contact_from_json(item.payload_json);
    c.job_title = "Edited";
    ASSERT_TRUE(*s->local_update("a@x.com", FolderKind::contacts, item.local_id, c));
  }
  const auto read = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(read.size(), 2u);
  ASSERT_TRUE(*s->local_delete("a@x.com", FolderKind::contacts, read[0].local_id));
  auto c = *model::contact_from_json(items[1].payload_json);
  c.job_title = "Edited again";
  ASSERT_TRUE(*s->local_update("a@x.com", FolderKind::contacts, read[1].local_id, c));

  EXPECT_FALSE(*s->restore_as_create(read[0]));
  EXPECT_FALSE(*s->resolve_conflict("a@x.com", FolderKind::contacts, read[1], contact(read[1].ref.id, "9", "Theirs"), false));
  ASSERT_TRUE(s->fail_write(read[1], "invalid_item: refused", true));
  EXPECT_TRUE(s->conflicts("a@x.com")->empty());

  const auto now = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(now.size(), 2u) << "the stale failure parked nothing";
  EXPECT_EQ(now[0].op, model::WriteOp::remove);
  EXPECT_EQ(now[0].ref.id, read[0].ref.id);
  EXPECT_EQ(now[1].op, model::WriteOp::update);
  EXPECT_EQ(std::get<model::Contact>(now[1].item).job_title, "Edited again");
  // Acting on the entry as it is now works.
  EXPECT_TRUE(*s->restore_as_create(now[1]));
}


// The CRM deleted an item and Exchange refused the delete until it was parked; Exchange still
// has the item and sends it again (an edit, a resync). It stays deleted for the CRM, its delete
// stays visibly parked, and it never comes back as a new item under a new local id.
TEST_F(SqliteStoreTest, AnItemTheCrmDeletedDoesNotComeBackWhileTheDeleteWaits) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  const auto ann = (*s->items("a@x.com", FolderKind::contacts))[0].remote.id == "A"
                       ? (*s->items("a@x.com", FolderKind::contacts))[0]
                       : (*s->items("a@x.com", FolderKind::contacts))[1];
  ASSERT_TRUE(*s->local_delete("a@x.com", FolderKind::contacts, ann.local_id));
  auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 1u);
  ASSERT_TRUE(s->fail_write(writes[0], "protocol: not a SOAP envelope", true));

  model::PageCommit edited;  // Ann edited in Outlook
  edited.upserts = {contact("A", "2", "Ann in Outlook")};
  edited.next_cursor = "s2";
  edited.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, edited));
  ASSERT_TRUE(s->begin_resync("a@x.com", FolderKind::contacts));
  model::PageCommit again;  // and everything again
  again.upserts = {contact("A", "3", "Ann in Outlook")};
  again.unchanged = {"B"};
  again.next_cursor = "r1";
  again.completes_sync = true;
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, again));

  EXPECT_EQ(names(*s), (std::map<std::string, std::string>{{"B", "Bob"}}));
  const auto outbox = *s->outbox("a@x.com");
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].local_id, ann.local_id);
  EXPECT_EQ(outbox[0].state, "parked");
}


// A create whose answer was lost reached Exchange, and a pass brought the new item in as an item
// of its own before the write was found again by its tag: one item remains, the CRM's (with its
// local id), and the copy is reported deleted. (It used to fail every pass after with a UNIQUE
// constraint, stopping the folder.)
TEST_F(SqliteStoreTest, ACreateFoundAgainAfterAPassBroughtItInLeavesOneItem) {
  auto s = open();
  model::Contact c;
  c.display_name = "New in the CRM";
  const auto created = *s->local_create("a@x.com", FolderKind::contacts, c);
  auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 1u);
  ASSERT_TRUE(s->begin_write(writes[0]));
  auto page = page_of({contact("X", "1", "New in the CRM")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  ASSERT_EQ(s->items("a@x.com", FolderKind::contacts)->size(), 2u);

  auto done = s->complete_write(writes[0], {"X", "1"});
  ASSERT_TRUE(done) << done.error().message;
  const auto items = *s->items("a@x.com", FolderKind::contacts);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].local_id, created.local_id);
  EXPECT_EQ(items[0].remote.id, "X");
  EXPECT_TRUE(s->outbox("a@x.com")->empty());
  const auto feed = *s->changes("a@x.com", 0, 10);
  ASSERT_EQ(feed.size(), 2u);
  EXPECT_EQ(feed[0].kind, "created");
  EXPECT_EQ(feed[1].kind, "deleted");
  EXPECT_EQ(feed[1].local_id, feed[0].local_id);
  EXPECT_NE(feed[1].local_id, created.local_id);
}


// The answer to one mailbox's create names an item another mailbox holds (an answer meant for
// that mailbox): the write is refused, naming the other mailbox, and nothing of it is stored.
TEST_F(SqliteStoreTest, AWriteWhoseAnswerNamesAnotherMailboxsItemIsRefused) {
  auto s = open();
  ASSERT_TRUE(s->commit_page("agent1@x.com", FolderKind::contacts, page_of({contact("A1", "1", "Ann of agent1")}, "s1", true)));
  model::Contact c;
  c.display_name = "New for agent2";
  const auto created = *s->local_create("agent2@x.com", FolderKind::contacts, c);
  auto writes = *s->pending_writes("agent2@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 1u);
  ASSERT_TRUE(s->begin_write(writes[0]));

  auto refused = s->complete_write(writes[0], {"A1", "2"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, model::StoreErrorKind::foreign_item);
  EXPECT_NE(refused.error().message.find("agent1@x.com"), std::string::npos) << refused.error().message;
  const auto mine = *s->items("agent2@x.com", FolderKind::contacts);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].local_id, created.local_id);
  EXPECT_NE(mine[0].remote.id, "A1") << "not linked to the other mailbox's item";
  EXPECT_EQ(s->outbox("agent2@x.com")->size(), 1u) << "the write still waits";
  EXPECT_EQ(names(*s, "agent1@x.com"), (std::map<std::string, std::string>{{"A1", "Ann of agent1"}}));
}

// A resync meets an item Exchange will not hand over, which the CRM has an edit waiting for:
// the item is quarantined, not taken for gone (which would turn the edit into a second copy).
TEST_F(SqliteStoreTest, AQuarantinedItemIsNotGoneForAResync) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  const auto items = *s->items("a@x.com", FolderKind::contacts);
  const auto& ann = items[0].remote.id == "A" ? items[0] : items[1];
  auto edited = *model::contact_from_json(ann.payload_json);
  edited.job_title = "Buyer";
  ASSERT_TRUE(*s->local_update("a@x.com", FolderKind::contacts, ann.local_id, edited));

  ASSERT_TRUE(s->begin_resync("a@x.com", FolderKind::contacts));
  model::PageCommit again;
  again.unchanged = {"B"};
  again.quarantined = {{"A", "ErrorCorruptData", "damaged"}};
  again.next_cursor = "r1";
  again.completes_sync = true;
  auto out = s->commit_page("a@x.com", FolderKind::contacts, again);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->restored, 0);
  EXPECT_EQ(out->quarantined, 1);
  const auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 1u);
  EXPECT_EQ(writes[0].op, model::WriteOp::update);
  EXPECT_EQ(writes[0].ref.id, "A");
  EXPECT_EQ(s->quarantine("a@x.com")->size(), 1u);
  EXPECT_EQ(s->items("a@x.com", FolderKind::contacts)->size(), 2u);
}


// The CRM deletes an item while its create is in flight; the create lands, and a pass reports
// the new item before the delete is written: it is not taken in as a new item.
TEST_F(SqliteStoreTest, AnItemDeletedWhileItsCreateWasInFlightIsNotTakenIn) {
  auto s = open();
  model::Contact c;
  c.display_name = "Short-lived";
  const auto created = *s->local_create("a@x.com", FolderKind::contacts, c);
  auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_TRUE(s->begin_write(writes[0]));
  ASSERT_TRUE(*s->local_delete("a@x.com", FolderKind::contacts, created.local_id));
  ASSERT_TRUE(s->complete_write(writes[0], {"X", "1"}));
  auto page = page_of({contact("X", "1", "Short-lived")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  EXPECT_TRUE(s->items("a@x.com", FolderKind::contacts)->empty());
  const auto now = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].op, model::WriteOp::remove);
  EXPECT_EQ(now[0].ref.id, "X");
}


// The engine read a create, then the CRM deleted the item before the attempt began: nothing is
// sent (it would bring the deleted item back as a new one when the next pass reads it).
TEST_F(SqliteStoreTest, AnAttemptOnAnEntryTheCrmChangedSinceItWasReadDoesNotBegin) {
  auto s = open();
  model::Contact c;
  c.display_name = "Gone Before Sent";
  const auto created = *s->local_create("a@x.com", FolderKind::contacts, c);
  c.display_name = "Edited Before Sent";
  const auto other = *s->local_create("a@x.com", FolderKind::contacts, c);
  const auto read = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(read.size(), 2u);
  ASSERT_TRUE(*s->local_delete("a@x.com", FolderKind::contacts, created.local_id));
  c.job_title = "Buyer";
  ASSERT_TRUE(*s->local_update("a@x.com", FolderKind::contacts, other.local_id, c));
  EXPECT_FALSE(*s->begin_write(read[0]));
  EXPECT_FALSE(*s->begin_write(read[1]));
  const auto now = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0].attempts, 0);
  EXPECT_TRUE(*s->begin_write(now[0]));
}


// Retention removes old history only: feed entries (moving the feed's horizon), conflicts and
// sent messages past their time; never items, outbox entries or messages still to be sent.
TEST_F(SqliteStoreTest, PruningRemovesOldHistoryAndNothingElse) {
  auto s = open();
  auto page = page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob")}, "s1", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page));
  model::OutgoingMessage m;
  m.to = {{"", "ann@example.com"}};
  m.subject = "Sent long ago";
  const auto sent = *s->queue_message("a@x.com", m);
  ASSERT_TRUE(s->begin_send(sent));
  ASSERT_TRUE(s->finish_send(sent, true, "", true));
  m.subject = "Still to send";
  const auto waiting = *s->queue_message("a@x.com", m);
  model::Contact c;
  c.display_name = "Pending";
  ASSERT_TRUE(s->local_create("a@x.com", FolderKind::contacts, c));
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "exsync.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    EXPECT_EQ(sqlite3_exec(db, "UPDATE changes SET at = '2020-01-01T00:00:00Z'; "
                               "UPDATE messages SET sent_at = '2020-01-01T00:00:00Z', updated_at = '2020-01-01T00:00:00Z'",
                           nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  EXPECT_EQ(*s->feed_horizon(), 0);
  auto later = page_of({contact("C", "1", "Cy")}, "s2", true);
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, later));

  auto pruned = s->prune({});
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(pruned->changes, 2);
  EXPECT_EQ(pruned->messages, 1);
  const auto feed = *s->changes("a@x.com", 0, 10);
  ASSERT_EQ(feed.size(), 1u);
  EXPECT_EQ(*s->feed_horizon(), feed[0].seq - 1);
  EXPECT_FALSE(*s->message_status("a@x.com", sent));
  EXPECT_TRUE(*s->message_status("a@x.com", waiting));
  EXPECT_EQ(s->items("a@x.com", FolderKind::contacts)->size(), 4u);
  EXPECT_EQ(s->outbox("a@x.com")->size(), 1u);
}


// A sent message keeps its attachments' names and types, not their content (Exchange keeps
// the message in Sent Items); one not yet sent keeps everything.
TEST_F(SqliteStoreTest, ASentMessageDropsItsAttachmentsContent) {
  auto s = open();
  model::OutgoingMessage m;
  m.to = {{"", "ann@example.com"}};
  m.subject = "Flyer";
  m.attachments = {{"flyer.pdf", "application/pdf", std::string(4096, 'Q')}};
  const auto sent = *s->queue_message("a@x.com", m);
  const auto waiting = *s->queue_message("a@x.com", m);
  ASSERT_TRUE(s->begin_send(sent));
  ASSERT_TRUE(s->finish_send(sent, true, "", true));
  auto stored = [&](const std::string& id) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open((dir_ / "exsync.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT request FROM messages WHERE id = ?1", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    std::string out = sqlite3_step(st) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(st, 0)) : "";
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  };
  EXPECT_EQ(stored(sent).find("QQQQ"), std::string::npos);
  EXPECT_NE(stored(sent).find("\"flyer.pdf\""), std::string::npos);
  EXPECT_NE(stored(waiting).find("QQQQ"), std::string::npos);
  const auto queued = *s->queued_messages("a@x.com");
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].message.attachments[0].content_base64.size(), 4096u);
}

}  // namespace
}  // namespace exsync::store

namespace exsync::store {
namespace {

// A tenant switched backends: the mailbox's ids, wherever the store names them, take the new
// backend's names in one step; the CRM's placeholders and other mailboxes are left alone, and
// every folder starts a pass that re-matches rows by the new ids.
TEST_F(SqliteStoreTest, AdoptingAnIdSpaceRenamesEveryStoredIdAndResyncsEveryFolder) {
  auto s = open();
  EXPECT_EQ(*s->id_space("a@x.com"), "") << "a mailbox with no ids yet";
  ASSERT_TRUE(s->adopt_id_space("a@x.com", "ews", {}));
  EXPECT_EQ(*s->id_space("a@x.com"), "ews");
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts,
                             page_of({contact("A", "1", "Ann"), contact("B", "1", "Bob"), contact("C", "1", "Cy")}, "s1", true)));
  ASSERT_TRUE(s->commit_page("other@x.com", FolderKind::contacts, page_of({contact("Z", "1", "Zed")}, "o1", true)));
  const auto items = *s->items("a@x.com", FolderKind::contacts);
  auto local_of = [&](const std::string& remote) {
    for (const auto& i : items)
      if (i.remote.id == remote) return i.local_id;
    return std::string();
  };
  auto edited = *model::contact_from_json(items[0].payload_json);
  edited.job_title = "Buyer";
  const auto edited_remote = items[0].remote.id;
  ASSERT_TRUE(*s->local_update("a@x.com", FolderKind::contacts, items[0].local_id, edited));
  model::Contact lead;
  lead.display_name = "New lead";
  ASSERT_TRUE(s->local_create("a@x.com", FolderKind::contacts, lead));
  model::PageCommit refused;
  refused.quarantined = {{"C", "ErrorCorruptData", "damaged"}};
  refused.next_cursor = "s2";
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, refused));

  auto ids = *s->remote_ids("a@x.com");
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"A", "B", "C"})) << "no placeholder of the CRM's create";

  ASSERT_TRUE(s->adopt_id_space("a@x.com", "graph", {{"A", "gA"}, {"B", "gB"}, {"C", "gC"}}));
  EXPECT_EQ(*s->id_space("a@x.com"), "graph");
  EXPECT_EQ(*s->id_space("other@x.com"), "");
  auto renamed = names(*s);
  ASSERT_EQ(renamed.erase(""), 1u)
      << "the CRM's create has no remote id yet";
  EXPECT_EQ(renamed, (std::map<std::string, std::string>{{"gA", "Ann"}, {"gB", "Bob"}, {"gC", "Cy"}}));
  EXPECT_EQ(names(*s, "other@x.com"), (std::map<std::string, std::string>{{"Z", "Zed"}}));
  EXPECT_EQ(s->items("a@x.com", FolderKind::contacts)->size(), 4u);
  for (const auto& i : *s->items("a@x.com", FolderKind::contacts))
    if (i.remote.id == "g" + edited_remote) EXPECT_EQ(i.local_id, local_of(edited_remote)) << "local ids stay";
  const auto writes = *s->pending_writes("a@x.com", FolderKind::contacts);
  ASSERT_EQ(writes.size(), 2u);
  for (const auto& w : writes)
    if (w.op == model::WriteOp::update) EXPECT_EQ(w.ref.id, "g" + edited_remote) << "the waiting write goes to the new id";
  ASSERT_EQ(s->quarantine("a@x.com")->size(), 1u);
  EXPECT_EQ(s->quarantine("a@x.com")->front().remote_id, "gC");
  const auto cursor = *s->cursor("a@x.com", FolderKind::contacts);
  EXPECT_EQ(cursor.cursor, "") << "the old backend's cursor means nothing to the new one";
  EXPECT_TRUE(cursor.resyncing);
  EXPECT_EQ(s->cursor("other@x.com", FolderKind::contacts)->cursor, "o1");

  // The resync finds the items again under their new ids: nothing is created or deleted.
  model::PageCommit again;
  again.unchanged = {"gA", "gB"};
  again.quarantined = {{"gC", "ErrorCorruptData", "damaged"}};
  again.next_cursor = "g1";
  again.completes_sync = true;
  auto out = s->commit_page("a@x.com", FolderKind::contacts, again);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->created + out->deleted, 0);
  EXPECT_EQ(s->items("a@x.com", FolderKind::contacts)->size(), 4u);
}

}  // namespace
}  // namespace exsync::store

namespace exsync::store {
namespace {

// A webhook endpoint's cursors: it starts at the feed's head, moves on per mailbox only forward
// and durably, and a replay moves every mailbox back.
TEST_F(SqliteStoreTest, AWebhookEndpointDeliversFromTheHeadItWasFirstSeenAtAndReplaysOnRequest) {
  auto s = open();
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page_of({contact("A", "1", "Ann")}, "c1")));
  ASSERT_TRUE(s->webhook_backlog("crm")->empty()) << "a new endpoint starts at the head";
  ASSERT_TRUE(s->commit_page("a@x.com", FolderKind::contacts, page_of({contact("B", "1", "Bo")}, "c2")));
  ASSERT_TRUE(s->commit_page("b@x.com", FolderKind::contacts, page_of({contact("C", "1", "Cy")}, "c1")));
  auto backlog = s->webhook_backlog("crm");
  ASSERT_TRUE(backlog);
  ASSERT_EQ(backlog->size(), 2u);
  EXPECT_EQ((*backlog)[0].mailbox, "a@x.com");
  EXPECT_EQ((*backlog)[0].cursor, 1);
  EXPECT_EQ((*backlog)[0].head, 2);
  EXPECT_EQ(*s->feed_head(), 3);
  ASSERT_TRUE(s->advance_webhook("crm", "a@x.com", 2));
  ASSERT_TRUE(s->advance_webhook("crm", "a@x.com", 1)) << "a late acknowledgement";
  s.reset();
  s = open();
  backlog = s->webhook_backlog("crm");
  ASSERT_EQ(backlog->size(), 1u) << "a@x.com's cursor survived, and did not move back";
  EXPECT_EQ((*backlog)[0].mailbox, "b@x.com");
  ASSERT_TRUE(s->advance_webhook("crm", "b@x.com", 3));
  EXPECT_TRUE(s->webhook_backlog("crm")->empty());
  ASSERT_TRUE(s->rewind_webhook("crm", 0));
  backlog = s->webhook_backlog("crm");
  ASSERT_EQ(backlog->size(), 2u);
  EXPECT_EQ((*backlog)[0].cursor, 0);
  EXPECT_EQ((*backlog)[1].cursor, 0);
  EXPECT_EQ(s->webhook_backlog("other")->size(), 0u) << "each endpoint has its own cursors";
}

}  // namespace
}  // namespace exsync::store
