#include "exsync/store/sqlite_store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <tuple>

#include "exsync/model/item_json.hpp"
#include "exsync/model/message_json.hpp"
#include "statement.hpp"

namespace exsync::store {
namespace {

using model::StoreError;

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
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

// An item the CRM created that the mailbox does not have yet carries a 'local:' placeholder
// instead of a remote id; outside the store it has no remote identity.
model::RemoteRef visible_ref(std::string remote_id, std::string change_key) {
  if (remote_id.rfind("local:", 0) == 0) return {};
  return {std::move(remote_id), std::move(change_key)};
}

std::string payload_json(const model::ItemPayload& payload) { return model::payload_to_json(payload); }

}  // namespace

struct SqliteStore::Impl {
  sqlite3* db = nullptr;
  std::mutex mu;
  std::unique_ptr<StatementCache> statements;

  ~Impl() {
    statements.reset();  // finalize before closing
    sqlite3_close_v2(db);
  }

  StatementRef cached(std::string_view sql) { return statements->get(sql); }

  Result<Unit, StoreError> exec(std::string_view sql, std::string_view what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Fail{sqlite_error(db, rc, what)};
    return Unit{};
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails. The statements are
  // prepared once, like every other.
  template <typename T, typename F>
  Result<T, StoreError> transaction(std::string_view what, F&& body) {
    auto begin = cached("BEGIN IMMEDIATE");
    if (auto r = run(begin, what); !r) return Fail{r.error()};
    Result<T, StoreError> out = body();
    auto rollback = [&] {
      auto st = cached("ROLLBACK");
      (void)run(st, what);
    };
    if (!out) {
      rollback();
      return out;
    }
    auto commit = cached("COMMIT");
    if (auto r = run(commit, what); !r) {
      rollback();
      return Fail{r.error()};
    }
    return out;
  }

  // Like transaction(), but the commit is not flushed to disk at once (WAL with synchronous
  // NORMAL): for writes that may be lost in a power failure without harm, because they only
  // repeat what the next write will say again. The next durable commit flushes them too.
  template <typename T, typename F>
  Result<T, StoreError> lazy_transaction(std::string_view what, F&& body) {
    auto normal = cached("PRAGMA synchronous = NORMAL");
    if (auto r = run(normal, what); !r) return Fail{r.error()};
    auto out = transaction<T>(what, std::forward<F>(body));
    auto full = cached("PRAGMA synchronous = FULL");
    if (auto r = run(full, what); !r) return Fail{r.error()};
    return out;
  }

  Result<Unit, StoreError> run(Statement& st, std::string_view what) {
    if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), what)};
    int rc = st.step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, what)};
    return Unit{};
  }

  // The address of another mailbox than `mailbox_id` that holds `remote_id`, or "" (`owner` is
  // the prepared lookup).
  Result<std::string, StoreError> owner_elsewhere(Statement& owner, const std::string& remote_id,
                                                  std::int64_t mailbox_id) {
    owner.reset();
    owner.bind(1, remote_id).bind(2, mailbox_id);
    if (!owner.valid()) return Fail{sqlite_error(db, owner.prepare_rc(), "check item owner")};
    const int rc = owner.step();
    if (rc == SQLITE_ROW) return owner.text(0);
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "check item owner")};
    return std::string();
  }

  // Whether the outbox entry is still the version `w` was read at (the CRM has not changed it).
  Result<bool, StoreError> entry_unchanged(const model::PendingWrite& w) {
    auto st = cached("SELECT version FROM outbox WHERE seq = ?1");
    st.bind(1, w.seq);
    if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), "check outbox entry")};
    const int rc = st.step();
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "check outbox entry")};
    return st.integer(0) == w.version;
  }

  // The mailbox's row id; 0 when it has none and `create` is false.
  Result<std::int64_t, StoreError> mailbox_id(const std::string& address, bool create) {
    auto find = cached("SELECT id FROM mailboxes WHERE address = ?1");
    if (!find.valid()) return Fail{sqlite_error(db, find.prepare_rc(), "look up mailbox")};
    find.bind(1, address);
    int rc = find.step();
    if (rc == SQLITE_ROW) return find.integer(0);
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "look up mailbox")};
    if (!create) return std::int64_t{0};
    auto ins = cached("INSERT INTO mailboxes(address) VALUES (?1)");
    ins.bind(1, address);
    if (auto r = run(ins, "add mailbox"); !r) return Fail{r.error()};
    return sqlite3_last_insert_rowid(db);
  }

  Result<Unit, StoreError> migrate(int target) {
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
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::string item_etag(const StoredItem& item) {
  // FNV-1a, 64 bits: a tag needs to change with the content, not to resist forgery.
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : item.payload_json) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag = "\"";
  for (int shift = 60; shift >= 0; shift -= 4) tag += kHex[(h >> shift) & 0xf];
  return tag + "\"";
}
SqliteStore::~SqliteStore() = default;

namespace {

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

}  // namespace

Result<std::unique_ptr<SqliteStore>, StoreError> SqliteStore::open(const std::filesystem::path& path,
                                                                   const OpenOptions& options) {
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
                             "PRAGMA foreign_keys = ON"}) {
    if (auto r = impl->exec(pragma, "configure store " + path.string()); !r) return Fail{r.error()};
  }
  if (auto r = impl->migrate(options.migrate_to); !r) return Fail{r.error()};
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

Result<model::FolderCursor, StoreError> SqliteStore::cursor(const std::string& mailbox,
                                                            model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT f.cursor, f.resyncing, f.deletions_confirmed "
               "FROM folder_state f JOIN mailboxes m ON m.id = f.mailbox_id WHERE m.address = ?1 AND f.folder = ?2");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read cursor")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  int rc = st.step();
  if (rc == SQLITE_ROW) return model::FolderCursor{st.text(0), st.integer(1) != 0, st.integer(2) != 0};
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read cursor")};
  return model::FolderCursor{};
}

Result<std::int64_t, StoreError> SqliteStore::count_items(const std::string& mailbox, model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached(
      "SELECT count(*) FROM items i JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "count items")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  int rc = st.step();
  if (rc != SQLITE_ROW) return Fail{sqlite_error(impl_->db, rc, "count items")};
  return st.integer(0);
}

Result<Unit, StoreError> SqliteStore::begin_resync(const std::string& mailbox, model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  return impl_->transaction<Unit>("begin resync", [&]() -> Result<Unit, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);
    auto mark = impl_->cached("UPDATE items SET seen = 0 WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id NOT LIKE 'local:%'");
    mark.bind(1, *mid).bind(2, fname);
    if (auto r = impl_->run(mark, "begin resync"); !r) return r;
    auto state = impl_->cached("INSERT INTO folder_state(mailbox_id, folder, cursor, resyncing) VALUES (?1, ?2, '', 1) "
                    "ON CONFLICT(mailbox_id, folder) DO UPDATE SET cursor = '', resyncing = 1");
    state.bind(1, *mid).bind(2, fname);
    return impl_->run(state, "begin resync");
  });
}

Result<std::set<std::string>, StoreError> SqliteStore::unchanged(const std::string& mailbox,
                                                                 model::FolderKind folder,
                                                                 const std::vector<model::RemoteRef>& refs) {
  std::lock_guard lock(impl_->mu);
  std::set<std::string> out;
  auto mid = impl_->mailbox_id(mailbox, false);
  if (!mid) return Fail{mid.error()};
  if (*mid == 0 || refs.empty()) return out;
  auto st = impl_->cached("SELECT change_key FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "compare change keys")};
  for (const auto& ref : refs) {
    st.reset();
    st.bind(1, *mid).bind(2, model::folder_name(folder)).bind(3, ref.id);
    int rc = st.step();
    if (rc == SQLITE_ROW) {
      if (st.text(0) == ref.change_key) out.insert(ref.id);
    } else if (rc != SQLITE_DONE) {
      return Fail{sqlite_error(impl_->db, rc, "compare change keys")};
    }
  }
  return out;
}

Result<model::PageOutcome, StoreError> SqliteStore::commit_page(const std::string& mailbox,
                                                                model::FolderKind folder,
                                                                const model::PageCommit& page) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  // A page that brings nothing only moves the cursor on (and records the time): losing that to
  // a power failure costs one repeated request, so it is not flushed to disk at once.
  const bool nothing = page.upserts.empty() && page.unchanged.empty() && page.deletions.empty() &&
                       page.quarantined.empty() && page.released.empty();
  auto body = [&]() -> Result<model::PageOutcome, StoreError> {
    model::PageOutcome outcome;
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);

    // Every applied change also goes into the feed the CRM follows, in the same transaction.
    auto feed = impl_->cached("INSERT INTO changes(mailbox_id, folder, item_id, remote_id, kind) VALUES (?1, ?2, ?3, ?4, ?5)");
    auto record = [&](const std::string& item_id, const std::string& remote_id, std::string_view kind) {
      feed.reset();
      feed.bind(1, *mid).bind(2, fname).bind(3, item_id).bind(4, remote_id).bind(5, kind);
      return impl_->run(feed, "record change");
    };

    auto update = impl_->cached("UPDATE items SET change_key = ?4, data = ?5, seen = 1, doomed = 0, "
                     "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
                     "WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3 RETURNING id");
    auto insert = impl_->cached("INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data) "
                     "VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5) RETURNING id");
    // The CRM's pending change to an item wins over the mailbox's until it is written; a
    // conflict, if any, is resolved when the write is attempted. A CRM delete has no item row
    // left, only its outbox entry naming the remote id: the item must not come back as a new
    // one (with a new local id) while that delete waits or is parked.
    auto pending = impl_->cached("SELECT o.seq, o.op FROM outbox o LEFT JOIN items i ON i.id = o.item_id "
                      "WHERE o.mailbox_id = ?1 AND o.folder = ?2 "
                      "AND (i.remote_id = ?3 OR (o.op = 'delete' AND i.id IS NULL AND o.remote_id = ?3))");
    auto pending_op = [&](const std::string& remote_id) -> Result<std::string, StoreError> {
      pending.reset();
      pending.bind(1, *mid).bind(2, fname).bind(3, remote_id);
      if (!pending.valid()) return Fail{sqlite_error(db, pending.prepare_rc(), "check outbox")};
      int rc = pending.step();
      if (rc == SQLITE_ROW) return pending.text(1);
      if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "check outbox")};
      return std::string();
    };
    // The folder's size before a burst of deletions begins is what the guard measures it by.
    bool resync_completes = false;
    if (page.completes_sync) {
      auto st = impl_->cached("SELECT resyncing FROM folder_state WHERE mailbox_id = ?1 AND folder = ?2");
      st.bind(1, *mid).bind(2, fname);
      if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), "read resync state")};
      const int rc = st.step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "read resync state")};
      resync_completes = rc == SQLITE_ROW && st.integer(0) != 0;
      st.reset();
    }
    if (!page.deletions.empty() || resync_completes) {
      auto row = impl_->cached("INSERT OR IGNORE INTO folder_state(mailbox_id, folder) VALUES (?1, ?2)");
      row.bind(1, *mid).bind(2, fname);
      if (auto r = impl_->run(row, "begin deletion burst"); !r) return Fail{r.error()};
      auto base = impl_->cached("UPDATE folder_state SET burst_base = (SELECT count(*) FROM items "
                                "WHERE mailbox_id = ?1 AND folder = ?2) "
                                "WHERE mailbox_id = ?1 AND folder = ?2 AND burst_base IS NULL");
      base.bind(1, *mid).bind(2, fname);
      if (auto r = impl_->run(base, "begin deletion burst"); !r) return Fail{r.error()};
    }
    auto mark_seen = impl_->cached("UPDATE items SET seen = 1, doomed = 0 WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    auto owner = impl_->cached("SELECT m.address FROM items i JOIN mailboxes m ON m.id = i.mailbox_id "
                               "WHERE i.remote_id = ?1 AND i.mailbox_id <> ?2 LIMIT 1");
    for (const auto& item : page.upserts) {
      auto op = pending_op(item.ref.id);
      if (!op) return Fail{op.error()};
      if (!op->empty()) {
        mark_seen.reset();
        mark_seen.bind(1, *mid).bind(2, fname).bind(3, item.ref.id);
        if (auto r = impl_->run(mark_seen, "hold item"); !r) return Fail{r.error()};
        ++outcome.held;
        continue;
      }
      const auto data = payload_json(item.payload);
      update.reset();
      update.bind(1, *mid).bind(2, fname).bind(3, item.ref.id).bind(4, item.ref.change_key).bind(5, data);
      if (!update.valid()) return Fail{sqlite_error(db, update.prepare_rc(), "update item")};
      int rc = update.step();
      if (rc == SQLITE_ROW) {
        const auto id = update.text(0);
        if (rc = update.step(); rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "update item")};
        if (auto r = record(id, item.ref.id, "updated"); !r) return Fail{r.error()};
        ++outcome.updated;
        continue;
      }
      if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "update item")};
      // A remote id names one item of one mailbox: one that another mailbox holds came in an
      // answer meant for that mailbox, and nothing of this page may be stored.
      if (auto foreign = impl_->owner_elsewhere(owner, item.ref.id, *mid); !foreign) {
        return Fail{foreign.error()};
      } else if (!foreign->empty()) {
        return Fail{StoreError{model::StoreErrorKind::foreign_item,
                               "the page for " + mailbox + " names item " + item.ref.id + " of mailbox " + *foreign +
                                   ": refused, nothing of it stored"}};
      }
      insert.reset();
      insert.bind(1, *mid).bind(2, fname).bind(3, item.ref.id).bind(4, item.ref.change_key).bind(5, data);
      if (!insert.valid()) return Fail{sqlite_error(db, insert.prepare_rc(), "insert item")};
      if (rc = insert.step(); rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "insert item")};
      const auto id = insert.text(0);
      if (rc = insert.step(); rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "insert item")};
      if (auto r = record(id, item.ref.id, "created"); !r) return Fail{r.error()};
      ++outcome.created;
    }

    auto seen = impl_->cached("UPDATE items SET seen = 1, doomed = 0 WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    for (const auto& id : page.unchanged) {
      seen.reset();
      seen.bind(1, *mid).bind(2, fname).bind(3, id);
      if (auto r = impl_->run(seen, "mark item seen"); !r) return Fail{r.error()};
    }
    // Poison items: recorded with the server's reason; a stored version stays (seen before the
    // resync's unseen rows are judged below, so that it is not taken for gone). An item read
    // again, or gone, leaves quarantine.
    auto hold = impl_->cached("INSERT INTO quarantine(mailbox_id, folder, remote_id, code, reason) VALUES (?1, ?2, ?3, ?4, ?5) "
                              "ON CONFLICT(mailbox_id, folder, remote_id) DO UPDATE SET code = excluded.code, "
                              "reason = excluded.reason, attempts = attempts + 1, last_at = excluded.last_at");
    for (const auto& r : page.quarantined) {
      hold.reset();
      hold.bind(1, *mid).bind(2, fname).bind(3, r.id).bind(4, r.code).bind(5, r.message);
      if (auto q = impl_->run(hold, "quarantine item"); !q) return Fail{q.error()};
      mark_seen.reset();
      mark_seen.bind(1, *mid).bind(2, fname).bind(3, r.id);
      if (auto q = impl_->run(mark_seen, "quarantine item"); !q) return Fail{q.error()};
      ++outcome.quarantined;
    }
    auto release = impl_->cached("DELETE FROM quarantine WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    auto release_all = [&](const auto& ids, auto id_of) -> Result<Unit, StoreError> {
      for (const auto& x : ids) {
        release.reset();
        release.bind(1, *mid).bind(2, fname).bind(3, id_of(x));
        if (auto q = impl_->run(release, "release item"); !q) return Fail{q.error()};
      }
      return Unit{};
    };
    const auto same = [](const std::string& id) -> const std::string& { return id; };
    if (auto q = release_all(page.upserts, [](const model::RemoteItem& i) -> const std::string& { return i.ref.id; }); !q)
      return Fail{q.error()};
    if (auto q = release_all(page.deletions, same); !q) return Fail{q.error()};
    if (auto q = release_all(page.released, same); !q) return Fail{q.error()};


    // Deleted in the mailbox, modified in the CRM: the modification wins, and the item will be
    // created again. Otherwise the row is marked, and removed when the pass completes (below).
    auto restore = impl_->cached("UPDATE outbox SET op = 'create', base = NULL, attempts = 0, last_error = NULL, "
                                 "version = version + 1 WHERE item_id = ?1 AND op = 'update'");
    auto unlink = impl_->cached("UPDATE items SET remote_id = 'local:' || id, change_key = '', doomed = 0 WHERE id = ?1");
    auto restore_item = [&](const std::string& item_id) -> Result<bool, StoreError> {
      restore.reset();
      restore.bind(1, item_id);
      if (auto r = impl_->run(restore, "restore item"); !r) return Fail{r.error()};
      if (sqlite3_changes(db) == 0) return false;
      unlink.reset();
      unlink.bind(1, item_id);
      if (auto r = impl_->run(unlink, "restore item"); !r) return Fail{r.error()};
      ++outcome.restored;
      return true;
    };
    auto by_remote = impl_->cached("SELECT id FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    auto doom = impl_->cached("UPDATE items SET doomed = 1 WHERE id = ?1");
    for (const auto& remote_id : page.deletions) {
      by_remote.reset();
      by_remote.bind(1, *mid).bind(2, fname).bind(3, remote_id);
      if (!by_remote.valid()) return Fail{sqlite_error(db, by_remote.prepare_rc(), "delete item")};
      int rc = by_remote.step();
      if (rc == SQLITE_DONE) continue;  // never held here, or already removed
      if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "delete item")};
      const auto item_id = by_remote.text(0);
      auto restored = restore_item(item_id);
      if (!restored) return Fail{restored.error()};
      if (*restored) continue;
      doom.reset();
      doom.bind(1, item_id);
      if (auto r = impl_->run(doom, "delete item"); !r) return Fail{r.error()};
    }
    // A resync that reached the end: rows the server did not report again are gone there, and
    // are marked like explicit deletions. The CRM's own new items (placeholders) are not.
    if (resync_completes) {
      auto unseen = impl_->cached("SELECT id FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND seen = 0 "
                                  "AND remote_id NOT LIKE 'local:%'");
      unseen.bind(1, *mid).bind(2, fname);
      if (!unseen.valid()) return Fail{sqlite_error(db, unseen.prepare_rc(), "finish resync")};
      std::vector<std::string> gone;
      int rc;
      while ((rc = unseen.step()) == SQLITE_ROW) gone.push_back(unseen.text(0));
      if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "finish resync")};
      for (const auto& item_id : gone) {
        auto restored = restore_item(item_id);
        if (!restored) return Fail{restored.error()};
        if (*restored) continue;
        doom.reset();
        doom.bind(1, item_id);
        if (auto r = impl_->run(doom, "finish resync"); !r) return Fail{r.error()};
      }
      auto done = impl_->cached("UPDATE folder_state SET resyncing = 0 WHERE mailbox_id = ?1 AND folder = ?2");
      done.bind(1, *mid).bind(2, fname);
      if (auto r = impl_->run(done, "finish resync"); !r) return Fail{r.error()};
    }

    auto state = impl_->cached("INSERT INTO folder_state(mailbox_id, folder, cursor, last_synced_at) "
                    "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ','now')) "
                    "ON CONFLICT(mailbox_id, folder) DO UPDATE SET cursor = excluded.cursor, "
                    "last_synced_at = excluded.last_synced_at, last_error = NULL, last_error_at = NULL, "
                    "initial_total = CASE WHEN ?4 THEN NULL ELSE initial_total END");
    state.bind(1, *mid).bind(2, fname).bind(3, page.next_cursor).bind(4, std::int64_t{page.completes_sync ? 1 : 0});
    if (auto r = impl_->run(state, "store cursor"); !r) return Fail{r.error()};

    if (page.completes_sync) {
      // The pass is complete: its burst of deletions is judged whole.
      auto burst = impl_->cached("SELECT (SELECT count(*) FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND doomed = 1), "
                                 "coalesce(burst_base, 0), deletions_confirmed FROM folder_state "
                                 "WHERE mailbox_id = ?1 AND folder = ?2");
      burst.bind(1, *mid).bind(2, fname);
      if (!burst.valid()) return Fail{sqlite_error(db, burst.prepare_rc(), "judge deletions")};
      if (int rc = burst.step(); rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "judge deletions")};
      const auto doomed = burst.integer(0), base = burst.integer(1);
      const bool confirmed = burst.integer(2) != 0;
      burst.reset();
      const bool allowed = doomed == 0 || confirmed || base < 10 ||
                           static_cast<double>(doomed) <= page.max_delete_share * static_cast<double>(base);
      if (allowed) {
        // The CRM edited some since they were marked: those edits win, and the items will be
        // created again.
        auto edited = impl_->cached("SELECT i.id FROM items i JOIN outbox o ON o.item_id = i.id "
                                    "WHERE i.mailbox_id = ?1 AND i.folder = ?2 AND i.doomed = 1 AND o.op = 'update'");
        edited.bind(1, *mid).bind(2, fname);
        if (!edited.valid()) return Fail{sqlite_error(db, edited.prepare_rc(), "delete items")};
        std::vector<std::string> kept;
        int erc;
        while ((erc = edited.step()) == SQLITE_ROW) kept.push_back(edited.text(0));
        if (erc != SQLITE_DONE) return Fail{sqlite_error(db, erc, "delete items")};
        for (const auto& item_id : kept)
          if (auto r = restore_item(item_id); !r) return Fail{r.error()};
        auto purge = impl_->cached("DELETE FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND doomed = 1 RETURNING id, remote_id");
        purge.bind(1, *mid).bind(2, fname);
        if (!purge.valid()) return Fail{sqlite_error(db, purge.prepare_rc(), "delete items")};
        std::vector<std::pair<std::string, std::string>> removed;
        int rc;
        while ((rc = purge.step()) == SQLITE_ROW) removed.emplace_back(purge.text(0), purge.text(1));
        if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "delete items")};
        for (const auto& [id, remote] : removed) {
          if (auto r = record(id, remote, "deleted"); !r) return Fail{r.error()};
          ++outcome.deleted;
        }
      } else {
        outcome.deletions_held = static_cast<int>(doomed);
        outcome.burst_base = base;
      }
      auto settle = impl_->cached("UPDATE folder_state SET deletions_held = ?3, "
                                  "burst_base = CASE WHEN ?3 = 0 THEN NULL ELSE burst_base END, "
                                  "deletions_confirmed = CASE WHEN ?3 = 0 THEN 0 ELSE deletions_confirmed END "
                                  "WHERE mailbox_id = ?1 AND folder = ?2");
      settle.bind(1, *mid).bind(2, fname).bind(3, std::int64_t{outcome.deletions_held});
      if (auto r = impl_->run(settle, "judge deletions"); !r) return Fail{r.error()};
    }
    return outcome;
  };
  return nothing ? impl_->lazy_transaction<model::PageOutcome>("commit page", body)
                 : impl_->transaction<model::PageOutcome>("commit page", body);
}

Result<std::vector<StoredItem>, StoreError> SqliteStore::items(const std::string& mailbox,
                                                               model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 "
               "ORDER BY i.id");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "list items")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  std::vector<StoredItem> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back(StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)});
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "list items")};
  return out;
}

Result<Unit, StoreError> SqliteStore::begin_initial_sync(const std::string& mailbox, model::FolderKind folder,
                                                        std::int64_t total) {
  std::lock_guard lock(impl_->mu);
  return impl_->transaction<Unit>("record the folder's size", [&]() -> Result<Unit, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    auto st = impl_->cached("INSERT INTO folder_state(mailbox_id, folder, initial_total) VALUES (?1, ?2, ?3) "
                 "ON CONFLICT(mailbox_id, folder) DO UPDATE SET initial_total = excluded.initial_total");
    st.bind(1, *mid).bind(2, model::folder_name(folder)).bind(3, total);
    return impl_->run(st, "record the folder's size");
  });
}

Result<Unit, StoreError> SqliteStore::record_failure(const std::string& mailbox, model::FolderKind folder,
                                                    const std::string& reason) {
  std::lock_guard lock(impl_->mu);
  return impl_->transaction<Unit>("record failure", [&]() -> Result<Unit, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    auto st = impl_->cached("INSERT INTO folder_state(mailbox_id, folder, last_error, last_error_at) "
                 "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ','now')) "
                 "ON CONFLICT(mailbox_id, folder) DO UPDATE SET last_error = excluded.last_error, "
                 "last_error_at = excluded.last_error_at");
    st.bind(1, *mid).bind(2, model::folder_name(folder)).bind(3, reason);
    return impl_->run(st, "record failure");
  });
}

Result<std::vector<StoredItem>, StoreError> SqliteStore::items_page(const std::string& mailbox,
                                                                    model::FolderKind folder,
                                                                    const std::string& after, int limit) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 AND i.id > ?3 "
               "ORDER BY i.id LIMIT ?4");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "list items")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, after).bind(4, std::int64_t{limit});
  std::vector<StoredItem> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)});
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "list items")};
  return out;
}

Result<std::optional<StoredItem>, StoreError> SqliteStore::item(const std::string& mailbox, model::FolderKind folder,
                                                                const std::string& local_id) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 AND i.id = ?3");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read item")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, local_id);
  int rc = st.step();
  if (rc == SQLITE_ROW) return std::optional<StoredItem>(StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)});
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read item")};
  return std::optional<StoredItem>();
}

Result<std::vector<FolderStatus>, StoreError> SqliteStore::status(const std::string& mailbox) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT f.folder, coalesce(f.last_synced_at, ''), coalesce(f.last_error, ''), "
               "coalesce(f.last_error_at, ''), "
               "(SELECT count(*) FROM items i WHERE i.mailbox_id = f.mailbox_id AND i.folder = f.folder), "
               "f.deletions_held, f.initial_total, "
               "(SELECT count(*) FROM quarantine q WHERE q.mailbox_id = f.mailbox_id AND q.folder = f.folder) "
               "FROM folder_state f JOIN mailboxes m ON m.id = f.mailbox_id WHERE m.address = ?1 ORDER BY f.folder");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read status")};
  st.bind(1, mailbox);
  std::vector<FolderStatus> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back({st.text(0), st.text(1), st.text(2), st.text(3), st.integer(4), st.integer(5), st.integer(7), std::nullopt});
    if (!st.is_null(6)) out.back().initial_total = st.integer(6);
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read status")};
  return out;
}

Result<std::vector<ChangeRecord>, StoreError> SqliteStore::changes(const std::string& mailbox, std::int64_t after,
                                                                   int limit) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT c.seq, c.folder, c.kind, c.item_id, c.remote_id, c.at, i.id, i.remote_id, i.change_key, i.data "
               "FROM changes c JOIN mailboxes m ON m.id = c.mailbox_id LEFT JOIN items i ON i.id = c.item_id "
               "WHERE m.address = ?1 AND c.seq > ?2 ORDER BY c.seq LIMIT ?3");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read changes")};
  st.bind(1, mailbox).bind(2, after).bind(3, std::int64_t{limit});
  std::vector<ChangeRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    ChangeRecord c{st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), std::nullopt};
    if (!st.text(6).empty()) c.current = StoredItem{st.text(6), visible_ref(st.text(7), st.text(8)), st.text(9)};
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read changes")};
  return out;
}

namespace {

Result<model::ItemPayload, StoreError> parse_payload(model::FolderKind folder, const std::string& json,
                                                     std::string_view what) {
  auto p = model::payload_from_json(folder, json);
  if (!p) return Fail{StoreError{model::StoreErrorKind::corrupt, std::string(what) + ": stored item " + p.error()}};
  return std::move(*p);
}

}  // namespace

Result<std::vector<model::PendingWrite>, StoreError> SqliteStore::pending_writes(const std::string& mailbox,
                                                                                 model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT o.seq, o.op, o.item_id, coalesce(o.base, ''), coalesce(o.remote_id, ''), "
               "coalesce(o.change_key, ''), o.attempts, coalesce(i.remote_id, ''), coalesce(i.change_key, ''), "
               "i.data, o.notify, o.version FROM outbox o JOIN mailboxes m ON m.id = o.mailbox_id "
               "LEFT JOIN items i ON i.id = o.item_id "
               "WHERE m.address = ?1 AND o.folder = ?2 AND o.state = 'pending' ORDER BY o.seq");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read outbox")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  std::vector<model::PendingWrite> out;
  // Entries that cannot be written: parked with the reason, so that the rest still go out.
  std::vector<std::pair<std::int64_t, std::string>> unwritable;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    model::PendingWrite w;
    w.seq = st.integer(0);
    const auto op = st.text(1);
    w.op = op == "create" ? model::WriteOp::create : op == "update" ? model::WriteOp::update : model::WriteOp::remove;
    w.local_id = st.text(2);
    w.attempts = static_cast<int>(st.integer(6));
    w.notify = st.integer(10) != 0;
    w.version = st.integer(11);
    if (w.op == model::WriteOp::remove) {
      w.ref = {st.text(4), st.text(5)};
    } else {
      if (st.is_null(9)) {
        unwritable.emplace_back(w.seq, "the item is no longer in the store");
        continue;
      }
      w.ref = {st.text(7), st.text(8)};
      auto item = parse_payload(folder, st.text(9), "read outbox");
      if (!item) {
        unwritable.emplace_back(w.seq, item.error().message);
        continue;
      }
      w.item = std::move(*item);
      if (w.op == model::WriteOp::create && !st.text(3).empty()) {
        auto attempted = parse_payload(folder, st.text(3), "read outbox");
        if (!attempted) {
          unwritable.emplace_back(w.seq, attempted.error().message);
          continue;
        }
        w.attempted = std::move(*attempted);
      }
      if (w.op == model::WriteOp::update) {
        auto base = parse_payload(folder, st.text(3), "read outbox");
        if (!base) {
          unwritable.emplace_back(w.seq, base.error().message);
          continue;
        }
        w.base = std::move(*base);
      }
    }
    out.push_back(std::move(w));
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read outbox")};
  st.reset();
  for (const auto& [seq, reason] : unwritable) {
    auto park = impl_->cached("UPDATE outbox SET state = 'parked', last_error = ?2, "
                              "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE seq = ?1");
    park.bind(1, seq).bind(2, "unwritable: " + reason);
    if (auto r = impl_->run(park, "park unwritable write"); !r) return Fail{r.error()};
  }
  return out;
}

Result<bool, StoreError> SqliteStore::begin_write(const model::PendingWrite& w) {
  std::lock_guard lock(impl_->mu);
  // A create's base is unused otherwise: it keeps the version the first attempt carried.
  auto st = impl_->cached("UPDATE outbox SET attempts = attempts + 1, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                          "base = CASE WHEN op = 'create' AND base IS NULL THEN ?2 ELSE base END "
                          "WHERE seq = ?1 AND version = ?3 AND state = 'pending'");
  st.bind(1, w.seq).bind(2, w.op == model::WriteOp::create ? payload_json(w.item) : std::string()).bind(3, w.version);
  if (auto r = impl_->run(st, "begin write"); !r) return Fail{r.error()};
  return sqlite3_changes(impl_->db) > 0;
}

Result<Unit, StoreError> SqliteStore::complete_write(const model::PendingWrite& w, const model::RemoteRef& written) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  // Not flushed at once: the attempt was recorded durably by begin_write(), so should this record
  // be lost to a power failure (a process crash loses nothing in WAL mode), the write is checked
  // again (found by its tag, or already changed or gone) instead of repeated blindly.
  return impl_->lazy_transaction<Unit>("complete write", [&]() -> Result<Unit, StoreError> {
    auto row = impl_->cached("SELECT op FROM outbox WHERE seq = ?1");
    row.bind(1, w.seq);
    if (!row.valid()) return Fail{sqlite_error(db, row.prepare_rc(), "complete write")};
    int rc = row.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "complete write")};
    const std::string op_now = rc == SQLITE_ROW ? row.text(0) : "";
    auto drop = impl_->cached("DELETE FROM outbox WHERE seq = ?1");
    drop.bind(1, w.seq);
    if (w.op == model::WriteOp::remove) return impl_->run(drop, "complete write");
    if (op_now == "delete") {
      // The CRM deleted the item while it was being written: delete what was written.
      auto target = impl_->cached("UPDATE outbox SET remote_id = ?2, change_key = ?3, attempts = 0 WHERE seq = ?1");
      target.bind(1, w.seq).bind(2, written.id).bind(3, written.change_key);
      return impl_->run(target, "complete write");
    }
    auto owner = impl_->cached("SELECT m.address FROM items i JOIN mailboxes m ON m.id = i.mailbox_id "
                               "WHERE i.remote_id = ?1 AND i.mailbox_id <> "
                               "(SELECT mailbox_id FROM items WHERE id = ?2) LIMIT 1");
    owner.bind(1, written.id).bind(2, w.local_id);
    if (!owner.valid()) return Fail{sqlite_error(db, owner.prepare_rc(), "complete write")};
    if (rc = owner.step(); rc == SQLITE_ROW) {
      return Fail{StoreError{model::StoreErrorKind::foreign_item,
                             "the answer to the write of " + w.local_id + " names item " + written.id + " of mailbox " +
                                 owner.text(0) + ": refused"}};
    } else if (rc != SQLITE_DONE) {
      return Fail{sqlite_error(db, rc, "complete write")};
    }
    // A pass between an attempt and this record may have brought the new item in already, as an
    // item of its own (an attempt whose answer was lost, found again by its tag): the CRM's row
    // is that item, and the copy goes, reported deleted to the CRM that saw it arrive.
    auto twin = impl_->cached("DELETE FROM items WHERE remote_id = ?2 AND id <> ?1 AND "
                              "mailbox_id = (SELECT mailbox_id FROM items WHERE id = ?1) RETURNING id, mailbox_id, folder");
    twin.bind(1, w.local_id).bind(2, written.id);
    if (!twin.valid()) return Fail{sqlite_error(db, twin.prepare_rc(), "complete write")};
    std::vector<std::tuple<std::string, std::int64_t, std::string>> twins;
    while ((rc = twin.step()) == SQLITE_ROW) twins.emplace_back(twin.text(0), twin.integer(1), twin.text(2));
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "complete write")};
    for (const auto& [id, mailbox_id, folder] : twins) {
      auto unqueue = impl_->cached("DELETE FROM outbox WHERE item_id = ?1");
      unqueue.bind(1, id);
      if (auto r = impl_->run(unqueue, "complete write"); !r) return Fail{r.error()};
      auto gone = impl_->cached("INSERT INTO changes(mailbox_id, folder, item_id, remote_id, kind) VALUES (?1, ?2, ?3, ?4, 'deleted')");
      gone.bind(1, mailbox_id).bind(2, folder).bind(3, id).bind(4, written.id);
      if (auto r = impl_->run(gone, "complete write"); !r) return Fail{r.error()};
    }
    auto link = impl_->cached("UPDATE items SET remote_id = ?2, change_key = ?3 WHERE id = ?1 RETURNING data");
    link.bind(1, w.local_id).bind(2, written.id).bind(3, written.change_key);
    if (!link.valid()) return Fail{sqlite_error(db, link.prepare_rc(), "complete write")};
    rc = link.step();
    std::string data_now;
    if (rc == SQLITE_ROW) {
      data_now = link.text(0);
      rc = link.step();
    }
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "complete write")};
    const auto pushed = payload_json(w.item);
    if (data_now.empty() || data_now == pushed) return impl_->run(drop, "complete write");
    // Edited again meanwhile: what was written becomes the base of the remaining update.
    auto rebase = impl_->cached("UPDATE outbox SET op = 'update', base = ?2, attempts = 0, last_error = NULL, "
                                "version = version + 1 WHERE seq = ?1");
    rebase.bind(1, w.seq).bind(2, pushed);
    return impl_->run(rebase, "complete write");
  });
}

Result<Unit, StoreError> SqliteStore::fail_write(const model::PendingWrite& w, const std::string& reason, bool park) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("UPDATE outbox SET last_error = ?3, state = ?4, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
                          "WHERE seq = ?1 AND version = ?2");
  st.bind(1, w.seq).bind(2, w.version).bind(3, reason).bind(4, park ? "parked" : "pending");
  return impl_->run(st, "record write failure");
}

Result<bool, StoreError> SqliteStore::resolve_conflict(const std::string& mailbox, model::FolderKind folder,
                                                       const model::PendingWrite& w, const model::RemoteItem& remote,
                                                       bool local_wins) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  return impl_->transaction<bool>("resolve conflict", [&]() -> Result<bool, StoreError> {
    if (auto same = impl_->entry_unchanged(w); !same) return Fail{same.error()};
    else if (!*same) return false;
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);
    const auto remote_json = payload_json(remote.payload);
    auto local = impl_->cached("SELECT data FROM items WHERE id = ?1");
    local.bind(1, w.local_id);
    if (!local.valid() || local.step() != SQLITE_ROW) return Fail{sqlite_error(db, SQLITE_ERROR, "resolve conflict: item")};
    const auto local_json = local.text(0);

    auto keep = impl_->cached("INSERT INTO conflicts(mailbox_id, folder, item_id, remote_id, winner, losing) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    keep.bind(1, *mid).bind(2, fname).bind(3, w.local_id).bind(4, remote.ref.id).bind(5, local_wins ? "local" : "remote")
        .bind(6, local_wins ? remote_json : local_json);
    if (auto r = impl_->run(keep, "resolve conflict"); !r) return Fail{r.error()};
    auto feed = impl_->cached("INSERT INTO changes(mailbox_id, folder, item_id, remote_id, kind) VALUES (?1, ?2, ?3, ?4, 'conflict')");
    feed.bind(1, *mid).bind(2, fname).bind(3, w.local_id).bind(4, remote.ref.id);
    if (auto r = impl_->run(feed, "resolve conflict"); !r) return Fail{r.error()};

    if (local_wins) {
      auto ref = impl_->cached("UPDATE items SET remote_id = ?2, change_key = ?3 WHERE id = ?1");
      ref.bind(1, w.local_id).bind(2, remote.ref.id).bind(3, remote.ref.change_key);
      if (auto r = impl_->run(ref, "resolve conflict"); !r) return Fail{r.error()};
      auto rebase = impl_->cached("UPDATE outbox SET base = ?2 WHERE seq = ?1");
      rebase.bind(1, w.seq).bind(2, remote_json);
      if (auto r = impl_->run(rebase, "resolve conflict"); !r) return Fail{r.error()};
      return true;
    }
    auto take = impl_->cached("UPDATE items SET remote_id = ?2, change_key = ?3, data = ?4, "
                       "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
    take.bind(1, w.local_id).bind(2, remote.ref.id).bind(3, remote.ref.change_key).bind(4, remote_json);
    if (auto r = impl_->run(take, "resolve conflict"); !r) return Fail{r.error()};
    auto drop = impl_->cached("DELETE FROM outbox WHERE seq = ?1");
    drop.bind(1, w.seq);
    if (auto r = impl_->run(drop, "resolve conflict"); !r) return Fail{r.error()};
    return true;
  });
}

Result<bool, StoreError> SqliteStore::restore_as_create(const model::PendingWrite& w) {
  std::lock_guard lock(impl_->mu);
  return impl_->transaction<bool>("restore item", [&]() -> Result<bool, StoreError> {
    if (auto same = impl_->entry_unchanged(w); !same) return Fail{same.error()};
    else if (!*same) return false;
    auto item = impl_->cached("UPDATE items SET remote_id = 'local:' || id, change_key = '', doomed = 0 WHERE id = ?1");
    item.bind(1, w.local_id);
    if (auto r = impl_->run(item, "restore item"); !r) return Fail{r.error()};
    auto op = impl_->cached("UPDATE outbox SET op = 'create', base = NULL, attempts = 0, last_error = NULL, "
                            "version = version + 1 WHERE seq = ?1");
    op.bind(1, w.seq);
    if (auto r = impl_->run(op, "restore item"); !r) return Fail{r.error()};
    return true;
  });
}

Result<StoredItem, StoreError> SqliteStore::local_create(const std::string& mailbox, model::FolderKind folder,
                                                         const model::ItemPayload& item, bool notify) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  return impl_->transaction<StoredItem>("create item", [&]() -> Result<StoredItem, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);
    const auto data = payload_json(item);
    auto ins = impl_->cached("INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data) "
                  "VALUES (lower(hex(randomblob(16))), ?1, ?2, '', '', ?3) RETURNING id");
    ins.bind(1, *mid).bind(2, fname).bind(3, data);
    if (!ins.valid()) return Fail{sqlite_error(db, ins.prepare_rc(), "create item")};
    int rc = ins.step();
    if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "create item")};
    const auto id = ins.text(0);
    if (rc = ins.step(); rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "create item")};
    auto placeholder = impl_->cached("UPDATE items SET remote_id = 'local:' || id WHERE id = ?1");
    placeholder.bind(1, id);
    if (auto r = impl_->run(placeholder, "create item"); !r) return Fail{r.error()};
    auto queue = impl_->cached("INSERT INTO outbox(mailbox_id, folder, item_id, op, notify) VALUES (?1, ?2, ?3, 'create', ?4)");
    queue.bind(1, *mid).bind(2, fname).bind(3, id).bind(4, std::int64_t{notify});
    if (auto r = impl_->run(queue, "create item"); !r) return Fail{r.error()};
    return StoredItem{id, {}, data};
  });
}

Result<std::optional<StoredItem>, StoreError> SqliteStore::local_update(const std::string& mailbox,
                                                                        model::FolderKind folder,
                                                                        const std::string& local_id,
                                                                        const model::ItemPayload& item, bool notify) {
  auto written = update_item(mailbox, folder, local_id, item, nullptr, notify);
  if (!written) return Fail{written.error()};
  return std::move(written->item);
}

Result<CrmWrite, StoreError> SqliteStore::local_update_if(const std::string& mailbox, model::FolderKind folder,
                                                          const std::string& local_id, const model::ItemPayload& item,
                                                          const std::string& expected, bool notify) {
  return update_item(mailbox, folder, local_id, item, &expected, notify);
}

Result<CrmWrite, StoreError> SqliteStore::update_item(const std::string& mailbox, model::FolderKind folder,
                                                      const std::string& local_id, const model::ItemPayload& item,
                                                      const std::string* expected, bool notify) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  return impl_->transaction<CrmWrite>("update item", [&]() -> Result<CrmWrite, StoreError> {
    auto cur = impl_->cached("SELECT i.remote_id, i.change_key, i.data, i.mailbox_id FROM items i JOIN mailboxes m ON m.id = i.mailbox_id "
                  "WHERE m.address = ?1 AND i.folder = ?2 AND i.id = ?3");
    cur.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, local_id);
    if (!cur.valid()) return Fail{sqlite_error(db, cur.prepare_rc(), "update item")};
    int rc = cur.step();
    if (rc == SQLITE_DONE) return CrmWrite{CrmWrite::Outcome::missing, std::nullopt};
    if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "update item")};
    StoredItem out{local_id, visible_ref(cur.text(0), cur.text(1)), payload_json(item)};
    const auto old_data = cur.text(2);
    if (expected && *expected != old_data)
      return CrmWrite{CrmWrite::Outcome::changed, StoredItem{local_id, out.remote, old_data}};
    const auto mid = cur.integer(3);
    auto set = impl_->cached("UPDATE items SET data = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
    set.bind(1, local_id).bind(2, out.payload_json);
    if (auto r = impl_->run(set, "update item"); !r) return Fail{r.error()};
    // A pending create or update already carries the item's latest content; an update's base
    // stays what the mailbox has.
    auto queue = impl_->cached("INSERT INTO outbox(mailbox_id, folder, item_id, op, base, notify) VALUES (?1, ?2, ?3, 'update', ?4, ?5) "
                    "ON CONFLICT(item_id) DO UPDATE SET state = 'pending', last_error = NULL, "
                    "notify = max(notify, excluded.notify), version = version + 1, "
                    // A create keeps its attempts: one may have reached the mailbox already.
                    "attempts = CASE WHEN op = 'create' THEN attempts ELSE 0 END");
    queue.bind(1, mid).bind(2, model::folder_name(folder)).bind(3, local_id).bind(4, old_data).bind(5, std::int64_t{notify});
    if (auto r = impl_->run(queue, "update item"); !r) return Fail{r.error()};
    return CrmWrite{CrmWrite::Outcome::done, std::move(out)};
  });
}

Result<bool, StoreError> SqliteStore::local_delete(const std::string& mailbox, model::FolderKind folder,
                                                   const std::string& local_id, bool notify) {
  auto written = delete_item(mailbox, folder, local_id, nullptr, notify);
  if (!written) return Fail{written.error()};
  return written->outcome == CrmWrite::Outcome::done;
}

Result<CrmWrite, StoreError> SqliteStore::local_delete_if(const std::string& mailbox, model::FolderKind folder,
                                                          const std::string& local_id, const std::string& expected,
                                                          bool notify) {
  return delete_item(mailbox, folder, local_id, &expected, notify);
}

Result<CrmWrite, StoreError> SqliteStore::delete_item(const std::string& mailbox, model::FolderKind folder,
                                                      const std::string& local_id, const std::string* expected,
                                                      bool notify) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  return impl_->transaction<CrmWrite>("delete item", [&]() -> Result<CrmWrite, StoreError> {
    const CrmWrite done{CrmWrite::Outcome::done, std::nullopt};
    auto cur = impl_->cached("SELECT i.remote_id, i.change_key, i.mailbox_id, o.op, coalesce(o.attempts, 0), i.data FROM items i "
                  "JOIN mailboxes m ON m.id = i.mailbox_id LEFT JOIN outbox o ON o.item_id = i.id "
                  "WHERE m.address = ?1 AND i.folder = ?2 AND i.id = ?3");
    cur.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, local_id);
    if (!cur.valid()) return Fail{sqlite_error(db, cur.prepare_rc(), "delete item")};
    int rc = cur.step();
    if (rc == SQLITE_DONE) return CrmWrite{CrmWrite::Outcome::missing, std::nullopt};
    if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "delete item")};
    const auto remote_id = cur.text(0), change_key = cur.text(1), pending_op = cur.text(3);
    if (expected && *expected != cur.text(5))
      return CrmWrite{CrmWrite::Outcome::changed, StoredItem{local_id, visible_ref(remote_id, change_key), cur.text(5)}};
    const auto mid = cur.integer(2);
    const auto attempts = cur.integer(4);
    auto del = impl_->cached("DELETE FROM items WHERE id = ?1");
    del.bind(1, local_id);
    if (auto r = impl_->run(del, "delete item"); !r) return Fail{r.error()};
    if (pending_op == "create" && attempts == 0) {
      // Never sent: nothing exists in the mailbox.
      auto drop = impl_->cached("DELETE FROM outbox WHERE item_id = ?1");
      drop.bind(1, local_id);
      if (auto r = impl_->run(drop, "delete item"); !r) return Fail{r.error()};
      return done;
    }
    // A create that may have reached the mailbox is found by its tag and deleted (empty ref).
    const bool uncertain = pending_op == "create";
    auto queue = impl_->cached("INSERT INTO outbox(mailbox_id, folder, item_id, op, remote_id, change_key, notify) "
                    "VALUES (?1, ?2, ?3, 'delete', ?4, ?5, ?6) "
                    "ON CONFLICT(item_id) DO UPDATE SET op = 'delete', base = NULL, remote_id = excluded.remote_id, "
                    "change_key = excluded.change_key, state = 'pending', attempts = 0, last_error = NULL, "
                    "notify = excluded.notify, version = version + 1");
    queue.bind(1, mid).bind(2, model::folder_name(folder)).bind(3, local_id).bind(4, uncertain ? "" : remote_id)
        .bind(5, uncertain ? "" : change_key).bind(6, std::int64_t{notify});
    if (auto r = impl_->run(queue, "delete item"); !r) return Fail{r.error()};
    return done;
  });
}

Result<std::vector<SqliteStore::OutboxEntry>, StoreError> SqliteStore::outbox(const std::string& mailbox) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT o.seq, o.folder, o.op, o.item_id, o.state, coalesce(o.last_error, ''), o.attempts FROM outbox o "
               "JOIN mailboxes m ON m.id = o.mailbox_id WHERE m.address = ?1 ORDER BY o.seq");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read outbox")};
  st.bind(1, mailbox);
  std::vector<OutboxEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), static_cast<int>(st.integer(6))});
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read outbox")};
  return out;
}

Result<SqliteStore::Backlog, StoreError> SqliteStore::backlog() {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT (SELECT count(*) FROM outbox WHERE state = 'pending'), "
                          "(SELECT count(*) FROM outbox WHERE state = 'parked'), "
                          "(SELECT count(*) FROM messages WHERE state IN ('queued', 'sending')), "
                          "(SELECT count(*) FROM messages WHERE state = 'failed'), "
                          "(SELECT count(*) FROM quarantine)");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read backlog")};
  if (int rc = st.step(); rc != SQLITE_ROW) return Fail{sqlite_error(impl_->db, rc, "read backlog")};
  return Backlog{st.integer(0), st.integer(1), st.integer(2), st.integer(3), st.integer(4)};
}

Result<std::vector<std::string>, StoreError> SqliteStore::quarantine_due(const std::string& mailbox,
                                                                         model::FolderKind folder,
                                                                         std::chrono::seconds first_retry) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT q.remote_id FROM quarantine q JOIN mailboxes m ON m.id = q.mailbox_id "
                          "WHERE m.address = ?1 AND q.folder = ?2 AND "
                          "unixepoch('now') - unixepoch(q.last_at) >= min(?3 * (1 << min(q.attempts - 1, 20)), 86400) "
                          "ORDER BY q.remote_id");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read quarantine")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, static_cast<std::int64_t>(first_retry.count()));
  std::vector<std::string> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(st.text(0));
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read quarantine")};
  return out;
}

Result<std::vector<SqliteStore::QuarantineEntry>, StoreError> SqliteStore::quarantine(const std::string& mailbox) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT q.folder, q.remote_id, coalesce(i.id, ''), q.code, q.reason, q.first_at, q.last_at, "
                          "q.attempts FROM quarantine q JOIN mailboxes m ON m.id = q.mailbox_id "
                          "LEFT JOIN items i ON i.mailbox_id = q.mailbox_id AND i.folder = q.folder AND i.remote_id = q.remote_id "
                          "WHERE m.address = ?1 ORDER BY q.first_at, q.remote_id");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read quarantine")};
  st.bind(1, mailbox);
  std::vector<QuarantineEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6), st.integer(7)});
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read quarantine")};
  return out;
}

Result<std::vector<std::string>, StoreError> SqliteStore::mailboxes_with_pending_work() {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT m.address FROM mailboxes m WHERE "
                          "EXISTS (SELECT 1 FROM outbox o WHERE o.mailbox_id = m.id AND o.state = 'pending') OR "
                          "EXISTS (SELECT 1 FROM messages g WHERE g.mailbox_id = m.id AND g.state IN ('queued', 'sending')) "
                          "ORDER BY m.address");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read pending work")};
  std::vector<std::string> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(st.text(0));
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read pending work")};
  return out;
}

Result<std::string, StoreError> SqliteStore::queue_message(const std::string& mailbox,
                                                          const model::OutgoingMessage& message) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  return impl_->transaction<std::string>("queue message", [&]() -> Result<std::string, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    auto ins = impl_->cached("INSERT INTO messages(id, mailbox_id, request) VALUES (lower(hex(randomblob(16))), ?1, ?2) RETURNING id");
    ins.bind(1, *mid).bind(2, model::message_to_json(message));
    if (!ins.valid()) return Fail{sqlite_error(db, ins.prepare_rc(), "queue message")};
    int rc = ins.step();
    if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, "queue message")};
    std::string id = ins.text(0);
    if (rc = ins.step(); rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "queue message")};
    return id;
  });
}

Result<std::optional<MessageStatus>, StoreError> SqliteStore::message_status(const std::string& mailbox,
                                                                             const std::string& local_id) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT g.id, g.state, g.attempts, coalesce(g.last_error, ''), g.created_at, coalesce(g.sent_at, '') "
               "FROM messages g JOIN mailboxes m ON m.id = g.mailbox_id WHERE m.address = ?1 AND g.id = ?2");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read message")};
  st.bind(1, mailbox).bind(2, local_id);
  int rc = st.step();
  if (rc == SQLITE_DONE) return std::optional<MessageStatus>();
  if (rc != SQLITE_ROW) return Fail{sqlite_error(impl_->db, rc, "read message")};
  // "sending" is the daemon's own bookkeeping; to the CRM it is still queued.
  std::string state = st.text(1) == "sending" ? "queued" : st.text(1);
  return std::optional<MessageStatus>(
      MessageStatus{st.text(0), state, static_cast<int>(st.integer(2)), st.text(3), st.text(4), st.text(5)});
}

Result<std::vector<model::QueuedMessage>, StoreError> SqliteStore::queued_messages(
    const std::string& mailbox) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT g.id, g.request, g.attempts, g.state = 'sending' FROM messages g JOIN mailboxes m ON m.id = g.mailbox_id "
               "WHERE m.address = ?1 AND g.state IN ('queued', 'sending') ORDER BY g.created_at, g.rowid");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read messages")};
  st.bind(1, mailbox);
  std::vector<model::QueuedMessage> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    auto m = model::message_from_json(st.text(1));
    if (!m) return Fail{StoreError{model::StoreErrorKind::corrupt, "stored message " + st.text(0) + " " + m.error()}};
    m->local_id = st.text(0);
    out.push_back({std::move(*m), static_cast<int>(st.integer(2)), st.integer(3) != 0});
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read messages")};
  return out;
}

Result<Unit, StoreError> SqliteStore::begin_send(const std::string& local_id) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("UPDATE messages SET state = 'sending', attempts = attempts + 1, "
               "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
  st.bind(1, local_id);
  return impl_->run(st, "begin send");
}

Result<Unit, StoreError> SqliteStore::finish_send(const std::string& local_id, bool sent, const std::string& reason,
                                                  bool final) {
  std::lock_guard lock(impl_->mu);
  // Once sent, the attachments' content is Exchange's to keep (Sent Items): the store keeps
  // their names and types only, which makes a month of messages a fraction of the size.
  auto st = impl_->cached("UPDATE messages SET state = ?2, last_error = nullif(?3, ''), "
               "sent_at = CASE WHEN ?2 = 'sent' THEN strftime('%Y-%m-%dT%H:%M:%SZ','now') END, "
               "request = CASE WHEN ?2 = 'sent' AND json_valid(request) AND json_type(request, '$.attachments') = 'array' "
               "THEN json_set(request, '$.attachments', (SELECT json_group_array(json_remove(value, '$.content_base64')) "
               "FROM json_each(request, '$.attachments'))) ELSE request END, "
               "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
  st.bind(1, local_id).bind(2, sent ? "sent" : final ? "failed" : "queued").bind(3, reason);
  return impl_->run(st, "finish send");
}

Result<bool, StoreError> SqliteStore::confirm_deletions(const std::string& mailbox, model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("UPDATE folder_state SET deletions_confirmed = 1 WHERE folder = ?2 AND deletions_held > 0 AND "
               "mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)");
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  if (auto r = impl_->run(st, "confirm deletions"); !r) return Fail{r.error()};
  return sqlite3_changes(impl_->db) > 0;
}

Result<std::vector<SqliteStore::ConflictEntry>, StoreError> SqliteStore::conflicts(const std::string& mailbox) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT c.id, c.folder, c.item_id, c.remote_id, c.winner, c.losing, c.at FROM conflicts c "
               "JOIN mailboxes m ON m.id = c.mailbox_id WHERE m.address = ?1 ORDER BY c.id");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read conflicts")};
  st.bind(1, mailbox);
  std::vector<ConflictEntry> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW)
    out.push_back({st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6)});
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read conflicts")};
  return out;
}

Result<BackupReport, StoreError> backup_store(const std::filesystem::path& store, const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(store, ec)) return Fail{StoreError{model::StoreErrorKind::io, "there is no store at " + store.string()}};
  if (fs::exists(to, ec))
    return Fail{StoreError{model::StoreErrorKind::io, to.string() + " exists already: name a new file"}};
  const fs::path partial = to.string() + ".partial";
  fs::remove(partial, ec);

  struct Db {
    sqlite3* db = nullptr;
    ~Db() { sqlite3_close_v2(db); }
  } src, dst;
  if (int rc = sqlite3_open_v2(store.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr); rc != SQLITE_OK)
    return Fail{sqlite_error(src.db, rc, "open store " + store.string())};
  sqlite3_busy_timeout(src.db, 5000);
  if (int rc = sqlite3_open_v2(partial.c_str(), &dst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
      rc != SQLITE_OK)
    return Fail{sqlite_error(dst.db, rc, "create " + partial.string())};

  BackupReport report;
  sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src.db, "main");
  if (!b) return Fail{sqlite_error(dst.db, sqlite3_errcode(dst.db), "start the backup")};
  // All pages in one step: a single read transaction on the source, so the copy is one snapshot.
  int rc;
  for (int attempt = 0; (rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED; ++attempt) {
    if (attempt == 50) break;
    sqlite3_sleep(100);
  }
  report.pages = sqlite3_backup_pagecount(b);
  if (int done = sqlite3_backup_finish(b); rc == SQLITE_DONE && done != SQLITE_OK) rc = done;
  if (rc != SQLITE_DONE && rc != SQLITE_OK) {
    auto e = sqlite_error(dst.db, rc, "copy " + store.string());
    sqlite3_close_v2(dst.db);
    dst.db = nullptr;
    fs::remove(partial, ec);
    return Fail{std::move(e)};
  }
  auto problems = integrity_problems(dst.db, "check the copy");
  if (!problems || !problems->empty()) {
    StoreError e = problems ? StoreError{model::StoreErrorKind::corrupt, "the copy failed its integrity check (" + *problems + ")"}
                            : problems.error();
    sqlite3_close_v2(dst.db);
    dst.db = nullptr;
    fs::remove(partial, ec);
    return Fail{std::move(e)};
  }
  {
    Statement v(dst.db, "PRAGMA user_version");
    if (v.valid() && v.step() == SQLITE_ROW) report.schema_version = static_cast<int>(v.integer(0));
  }
  sqlite3_close_v2(dst.db);  // the backup is written in rollback-journal mode: one file
  dst.db = nullptr;
  // Durable before it takes the name: the file, then the directory entry.
  if (int fd = ::open(partial.c_str(), O_RDONLY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(partial, to, ec);
  if (ec) return Fail{StoreError{model::StoreErrorKind::io, "move the copy to " + to.string() + ": " + ec.message()}};
  const auto dir = to.parent_path().empty() ? fs::path(".") : to.parent_path();
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  report.bytes = static_cast<std::int64_t>(fs::file_size(to, ec));
  return report;
}

Result<SqliteStore::PruneReport, StoreError> SqliteStore::prune(const Retention& retention) {
  std::lock_guard lock(impl_->mu);
  sqlite3* db = impl_->db;
  auto cutoff = [](std::chrono::hours h) { return "-" + std::to_string(h.count()) + " hours"; };
  auto out = impl_->transaction<PruneReport>("prune store", [&]() -> Result<PruneReport, StoreError> {
    PruneReport report;
    auto feed = impl_->cached("DELETE FROM changes WHERE at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1) RETURNING seq");
    feed.bind(1, cutoff(retention.changes));
    if (!feed.valid()) return Fail{sqlite_error(db, feed.prepare_rc(), "prune changes")};
    std::int64_t through = 0;
    int rc;
    while ((rc = feed.step()) == SQLITE_ROW) {
      through = std::max(through, feed.integer(0));
      ++report.changes;
    }
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "prune changes")};
    if (through > 0) {
      auto mark = impl_->cached("INSERT INTO store_meta(key, value) VALUES ('changes_pruned_through', ?1) "
                                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)");
      mark.bind(1, through);
      if (auto r = impl_->run(mark, "prune changes"); !r) return Fail{r.error()};
    }
    auto conflicts = impl_->cached("DELETE FROM conflicts WHERE at < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)");
    conflicts.bind(1, cutoff(retention.conflicts));
    if (auto r = impl_->run(conflicts, "prune conflicts"); !r) return Fail{r.error()};
    report.conflicts = sqlite3_changes(db);
    auto messages = impl_->cached("DELETE FROM messages WHERE state IN ('sent', 'failed') AND "
                                  "coalesce(sent_at, updated_at) < strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?1)");
    messages.bind(1, cutoff(retention.messages));
    if (auto r = impl_->run(messages, "prune messages"); !r) return Fail{r.error()};
    report.messages = sqlite3_changes(db);
    return report;
  });
  if (!out) return out;
  // Give the space of a long-running WAL back (readers in progress keep theirs).
  if (int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      rc != SQLITE_OK && rc != SQLITE_BUSY)
    return Fail{sqlite_error(db, rc, "checkpoint the WAL")};
  return out;
}

Result<std::int64_t, StoreError> SqliteStore::feed_horizon() {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT value FROM store_meta WHERE key = 'changes_pruned_through'");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read feed horizon")};
  int rc = st.step();
  if (rc == SQLITE_ROW) return st.integer(0);
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read feed horizon")};
  return std::int64_t{0};
}

}  // namespace exsync::store
