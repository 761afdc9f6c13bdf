#include "exsync/store/sqlite_store.hpp"

#include <mutex>

#include "exsync/model/contact_json.hpp"
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
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion);

std::string payload_json(const model::ItemPayload& payload) {
  return std::visit([](const auto& p) { return model::contact_to_json(p); }, payload);
}

}  // namespace

struct SqliteStore::Impl {
  sqlite3* db = nullptr;
  std::mutex mu;

  ~Impl() { sqlite3_close_v2(db); }

  Result<Unit, StoreError> exec(std::string_view sql, std::string_view what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Fail{sqlite_error(db, rc, what)};
    return Unit{};
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails.
  template <typename T, typename F>
  Result<T, StoreError> transaction(std::string_view what, F&& body) {
    if (auto r = exec("BEGIN IMMEDIATE", what); !r) return Fail{r.error()};
    Result<T, StoreError> out = body();
    if (!out) {
      (void)exec("ROLLBACK", what);
      return out;
    }
    if (auto r = exec("COMMIT", what); !r) {
      (void)exec("ROLLBACK", what);
      return Fail{r.error()};
    }
    return out;
  }

  Result<Unit, StoreError> run(Statement& st, std::string_view what) {
    if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), what)};
    int rc = st.step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, what)};
    return Unit{};
  }

  // The mailbox's row id; 0 when it has none and `create` is false.
  Result<std::int64_t, StoreError> mailbox_id(const std::string& address, bool create) {
    Statement find(db, "SELECT id FROM mailboxes WHERE address = ?1");
    if (!find.valid()) return Fail{sqlite_error(db, find.prepare_rc(), "look up mailbox")};
    find.bind(1, address);
    int rc = find.step();
    if (rc == SQLITE_ROW) return find.integer(0);
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "look up mailbox")};
    if (!create) return std::int64_t{0};
    Statement ins(db, "INSERT INTO mailboxes(address) VALUES (?1)");
    ins.bind(1, address);
    if (auto r = run(ins, "add mailbox"); !r) return Fail{r.error()};
    return sqlite3_last_insert_rowid(db);
  }

  Result<Unit, StoreError> migrate() {
    Statement v(db, "PRAGMA user_version");
    if (!v.valid() || v.step() != SQLITE_ROW)
      return Fail{sqlite_error(db, v.prepare_rc(), "read schema version")};
    const auto version = v.integer(0);
    if (version > kSchemaVersion)
      return Fail{StoreError{model::StoreErrorKind::corrupt,
                             "the store has schema version " + std::to_string(version) +
                                 ", newer than this exsyncd understands (" +
                                 std::to_string(kSchemaVersion) + "); upgrade exsyncd"}};
    for (auto i = version; i < kSchemaVersion; ++i) {
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
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>, StoreError> SqliteStore::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  int rc = sqlite3_open_v2(path.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK)
    return Fail{sqlite_error(impl->db, rc, "open store " + path.string())};
  sqlite3_busy_timeout(impl->db, 5000);
  sqlite3_extended_result_codes(impl->db, 1);
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
                             "PRAGMA foreign_keys = ON"}) {
    if (auto r = impl->exec(pragma, "configure store " + path.string()); !r) return Fail{r.error()};
  }
  if (auto r = impl->migrate(); !r) return Fail{r.error()};
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

Result<model::FolderCursor, StoreError> SqliteStore::cursor(const std::string& mailbox,
                                                            model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  Statement st(impl_->db,
               "SELECT f.cursor, f.resyncing FROM folder_state f JOIN mailboxes m ON m.id = f.mailbox_id "
               "WHERE m.address = ?1 AND f.folder = ?2");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "read cursor")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  int rc = st.step();
  if (rc == SQLITE_ROW) return model::FolderCursor{st.text(0), st.integer(1) != 0};
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "read cursor")};
  return model::FolderCursor{};
}

Result<Unit, StoreError> SqliteStore::begin_resync(const std::string& mailbox, model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  return impl_->transaction<Unit>("begin resync", [&]() -> Result<Unit, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);
    Statement mark(impl_->db, "UPDATE items SET seen = 0 WHERE mailbox_id = ?1 AND folder = ?2");
    mark.bind(1, *mid).bind(2, fname);
    if (auto r = impl_->run(mark, "begin resync"); !r) return r;
    Statement state(impl_->db,
                    "INSERT INTO folder_state(mailbox_id, folder, cursor, resyncing) VALUES (?1, ?2, '', 1) "
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
  Statement st(impl_->db,
               "SELECT change_key FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
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
  return impl_->transaction<model::PageOutcome>("commit page", [&]() -> Result<model::PageOutcome, StoreError> {
    model::PageOutcome outcome;
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);

    Statement update(db,
                     "UPDATE items SET change_key = ?4, data = ?5, seen = 1, "
                     "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
                     "WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    Statement insert(db,
                     "INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data) "
                     "VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5)");
    for (const auto& item : page.upserts) {
      const auto data = payload_json(item.payload);
      update.reset();
      update.bind(1, *mid).bind(2, fname).bind(3, item.ref.id).bind(4, item.ref.change_key).bind(5, data);
      if (auto r = impl_->run(update, "update item"); !r) return Fail{r.error()};
      if (sqlite3_changes(db) > 0) {
        ++outcome.updated;
        continue;
      }
      insert.reset();
      insert.bind(1, *mid).bind(2, fname).bind(3, item.ref.id).bind(4, item.ref.change_key).bind(5, data);
      if (auto r = impl_->run(insert, "insert item"); !r) return Fail{r.error()};
      ++outcome.created;
    }

    Statement seen(db, "UPDATE items SET seen = 1 WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    for (const auto& id : page.unchanged) {
      seen.reset();
      seen.bind(1, *mid).bind(2, fname).bind(3, id);
      if (auto r = impl_->run(seen, "mark item seen"); !r) return Fail{r.error()};
    }

    Statement del(db, "DELETE FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3");
    for (const auto& id : page.deletions) {
      del.reset();
      del.bind(1, *mid).bind(2, fname).bind(3, id);
      if (auto r = impl_->run(del, "delete item"); !r) return Fail{r.error()};
      outcome.deleted += sqlite3_changes(db);
    }

    Statement state(db,
                    "INSERT INTO folder_state(mailbox_id, folder, cursor, last_synced_at) "
                    "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ','now')) "
                    "ON CONFLICT(mailbox_id, folder) DO UPDATE SET cursor = excluded.cursor, "
                    "last_synced_at = excluded.last_synced_at");
    state.bind(1, *mid).bind(2, fname).bind(3, page.next_cursor);
    if (auto r = impl_->run(state, "store cursor"); !r) return Fail{r.error()};

    if (page.completes_sync) {
      // A resync that reached the end: rows the server did not report again are gone there.
      Statement resyncing(db, "SELECT resyncing FROM folder_state WHERE mailbox_id = ?1 AND folder = ?2");
      resyncing.bind(1, *mid).bind(2, fname);
      if (!resyncing.valid()) return Fail{sqlite_error(db, resyncing.prepare_rc(), "finish resync")};
      if (resyncing.step() == SQLITE_ROW && resyncing.integer(0) != 0) {
        Statement purge(db, "DELETE FROM items WHERE mailbox_id = ?1 AND folder = ?2 AND seen = 0");
        purge.bind(1, *mid).bind(2, fname);
        if (auto r = impl_->run(purge, "finish resync"); !r) return Fail{r.error()};
        outcome.deleted += sqlite3_changes(db);
        Statement done(db, "UPDATE folder_state SET resyncing = 0 WHERE mailbox_id = ?1 AND folder = ?2");
        done.bind(1, *mid).bind(2, fname);
        if (auto r = impl_->run(done, "finish resync"); !r) return Fail{r.error()};
      }
    }
    return outcome;
  });
}

Result<std::vector<StoredItem>, StoreError> SqliteStore::items(const std::string& mailbox,
                                                               model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  Statement st(impl_->db,
               "SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 "
               "ORDER BY i.id");
  if (!st.valid()) return Fail{sqlite_error(impl_->db, st.prepare_rc(), "list items")};
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  std::vector<StoredItem> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) {
    out.push_back(StoredItem{st.text(0), {st.text(1), st.text(2)}, st.text(3)});
  }
  if (rc != SQLITE_DONE) return Fail{sqlite_error(impl_->db, rc, "list items")};
  return out;
}

}  // namespace exsync::store
