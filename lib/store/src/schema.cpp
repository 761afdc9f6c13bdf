// The schema and its migrations, opening a store (with its integrity check).
#include "store_impl.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

namespace exsync::store {

namespace {

// Each entry brings the schema from version i to i+1. Never edit a released entry: add one.
constexpr const char* kMigrations[] = {
    // 0 -> 1: mailboxes, per-folder cursors, items.
    R"sql(
CREATE TABLE mailboxes (
  id      INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE
);
CREATE TABLE folder_state (
  mailbox_id     INTEGER NOT NULL REFERENCES mailboxes(id),
  folder         TEXT NOT NULL,
  cursor         TEXT NOT NULL DEFAULT '',
  resyncing      INTEGER NOT NULL DEFAULT 0,
  last_synced_at TEXT,
  PRIMARY KEY (mailbox_id, folder)
);
CREATE TABLE items (
  id         TEXT PRIMARY KEY,
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  folder     TEXT NOT NULL,
  remote_id  TEXT NOT NULL,
  change_key TEXT NOT NULL,
  data       TEXT NOT NULL,
  seen       INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  UNIQUE (mailbox_id, folder, remote_id)
);
)sql",
    // 1 -> 2: the changes feed the CRM follows, and each folder's last failure.
    R"sql(
CREATE TABLE changes (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  folder     TEXT NOT NULL,
  item_id    TEXT NOT NULL,
  remote_id  TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'conflict')),
  at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);
CREATE INDEX changes_by_mailbox ON changes (mailbox_id, seq);
ALTER TABLE folder_state ADD COLUMN last_error TEXT;
ALTER TABLE folder_state ADD COLUMN last_error_at TEXT;
)sql",
    // 2 -> 3: the outbox of the CRM's changes waiting to be written to the mailbox, and the
    // losing versions of conflicts. An item created locally has remote_id 'local:<id>' until
    // Exchange has created it.
    R"sql(
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  folder     TEXT NOT NULL,
  item_id    TEXT NOT NULL,
  op         TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
  base       TEXT,
  remote_id  TEXT,
  change_key TEXT,
  state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'parked')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);
CREATE UNIQUE INDEX outbox_one_per_item ON outbox (item_id);
CREATE TABLE conflicts (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  folder     TEXT NOT NULL,
  item_id    TEXT NOT NULL,
  remote_id  TEXT NOT NULL,
  winner     TEXT NOT NULL CHECK (winner IN ('local', 'remote')),
  losing     TEXT NOT NULL,
  at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);
)sql",
    // 3 -> 4: messages the CRM sends through the agents' mailboxes.
    R"sql(
CREATE TABLE messages (
  id         TEXT PRIMARY KEY,
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  request    TEXT NOT NULL,
  state      TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts   INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  sent_at    TEXT
);
CREATE INDEX messages_waiting ON messages (mailbox_id, state);
)sql",
    // 4 -> 5: deletions held back for an operator's confirmation.
    R"sql(
ALTER TABLE folder_state ADD COLUMN deletions_held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE folder_state ADD COLUMN deletions_confirmed INTEGER NOT NULL DEFAULT 0;
)sql",
    // 5 -> 6: whether the CRM asked to notify a meeting's attendees of its write.
    R"sql(
ALTER TABLE outbox ADD COLUMN notify INTEGER NOT NULL DEFAULT 0;
)sql",
    // 6 -> 7: the folder's size in Exchange while its initial sync is under way (NULL after).
    R"sql(
ALTER TABLE folder_state ADD COLUMN initial_total INTEGER;
)sql",
    // 7 -> 8: items by remote id alone, so that an item another mailbox holds is never stored
    // for this one (a remote id names one item in one mailbox).
    R"sql(
CREATE INDEX items_by_remote_id ON items (remote_id);
)sql",
    // 8 -> 9: deletions marked until the pass that brings them completes (the mass-deletion
    // guard judges a burst whole, against the folder's size before it); outbox entries carry a
    // version, so that the engine acts only on the entry it read.
    R"sql(
ALTER TABLE items ADD COLUMN doomed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE folder_state ADD COLUMN burst_base INTEGER;
ALTER TABLE outbox ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
)sql",
    // 9 -> 10: items the mailbox refused to hand over (poison items), asked again later.
    R"sql(
CREATE TABLE quarantine (
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  folder     TEXT NOT NULL,
  remote_id  TEXT NOT NULL,
  code       TEXT NOT NULL,
  reason     TEXT NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 1,
  first_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  last_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
  PRIMARY KEY (mailbox_id, folder, remote_id)
);
)sql",
    // 10 -> 11: how far the changes feed was pruned (the oldest cursor it still answers).
    R"sql(
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
)sql",
    // 11 -> 12: which backend's ids each mailbox's rows hold (every store before this one was
    // EWS's); NULL for a mailbox with no remote id yet.
    R"sql(
ALTER TABLE mailboxes ADD COLUMN id_space TEXT;
UPDATE mailboxes SET id_space = 'ews';
)sql",
    // 12 -> 13: webhook endpoints and how far each has delivered each mailbox's feed. An
    // endpoint starts at the feed's head when first seen; a mailbox it has not delivered yet is
    // at the endpoint's start.
    R"sql(
CREATE TABLE webhook_endpoints (
  name       TEXT PRIMARY KEY,
  start_seq  INTEGER NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);
CREATE TABLE webhook_cursors (
  endpoint   TEXT NOT NULL REFERENCES webhook_endpoints(name),
  mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
  seq        INTEGER NOT NULL,
  PRIMARY KEY (endpoint, mailbox_id)
);
)sql",
    // 13 -> 14: a folder's waiting writes found by index (each pass of each folder reads them;
    // ten thousand queued writes were scanned whole a thousand times in a round).
    R"sql(
CREATE INDEX outbox_waiting ON outbox (mailbox_id, folder, state, seq);
)sql",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

}  // namespace

Result<Unit, StoreError> SqliteStore::Impl::migrate(int target) {
  auto v = cached("PRAGMA user_version");
  if (!v.valid() || v.step() != SQLITE_ROW)
    return Fail{sqlite_error(db, v.prepare_rc(), "read schema version")};
  const auto version = v.integer(0);
  if (version > kSchemaVersion)
    return Fail{StoreError{model::StoreErrorKind::corrupt,
                           "the store has schema version " + std::to_string(version) +
                               ", newer than this exsyncd understands (" +
                               std::to_string(kSchemaVersion) + "); upgrade exsyncd"}};
  for (auto i = version; i < std::min<std::int64_t>(target, kSchemaVersion); ++i) {
    auto r = transaction<Unit>("migrate schema", [&]() -> Result<Unit, StoreError> {
      if (auto e = exec(kMigrations[i], "migrate schema to version " + std::to_string(i + 1)); !e)
        return e;
      return exec("PRAGMA user_version = " + std::to_string(i + 1), "record schema version");
    });
    if (!r) return r;
  }
  return Unit{};
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

// PRAGMA integrity_check's verdict: empty when "ok", else its first findings.
Result<std::string, StoreError> integrity_problems(sqlite3* db, const std::string& what) {
  Statement st(db, "PRAGMA integrity_check(5)");
  if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), what)};
  std::string problems;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    const auto line = st.text(0);
    if (line == "ok") continue;
    problems += (problems.empty() ? "" : "; ") + line;
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, what)};
  return problems;
}


Result<std::unique_ptr<SqliteStore>, StoreError> SqliteStore::open(const std::filesystem::path& path,
                                                                   const OpenOptions& options) {
  // SQLite's allocator keeps statistics under a global mutex unless told not to; the store never
  // reads them. This must come before SQLite initializes, so before the first connection.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  auto impl = std::make_unique<Impl>();
  int rc = sqlite3_open_v2(path.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return Fail{sqlite_error(impl->db, rc, "open store " + path.string())};
  impl->statements = std::make_unique<StatementCache>(impl->db);
  sqlite3_busy_timeout(impl->db, 5000);
  sqlite3_extended_result_codes(impl->db, 1);
  if (options.check_integrity) {
    auto problems = integrity_problems(impl->db, "check store " + path.string());
    if (!problems) return Fail{problems.error()};
    if (!problems->empty())
      return Fail{StoreError{model::StoreErrorKind::corrupt,
                             "the store " + path.string() + " failed its integrity check (" + *problems +
                                 "): restore the last backup (exsyncd backup), or move the file aside to sync "
                                 "every mailbox afresh"}};
  }
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
                             "PRAGMA foreign_keys = ON",
                             // 32 MiB of page cache (the default is 2 MiB): an initial sync
                             // touches the indexes of every item it stores.
                             "PRAGMA cache_size = -32768",
                             // A savepoint's undo pages (each write behind is one) stay in
                             // memory instead of a temporary file written as they grow.
                             "PRAGMA temp_store = MEMORY"}) {
    if (auto r = impl->exec(pragma, "configure store " + path.string()); !r) return Fail{r.error()};
  }
  if (auto r = impl->migrate(options.migrate_to); !r) return Fail{r.error()};
  impl->start_flusher();
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

}  // namespace exsync::store
