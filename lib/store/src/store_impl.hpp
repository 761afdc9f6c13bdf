// The store's internals, shared by its source files (one per concept: schema, sync state, reads
// and the feed, the outbox, the CRM's writes, messages, retention, backup). Not installed.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exsync/model/item_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "statement.hpp"

namespace exsync::store {

using model::StoreError;

// An item the CRM created that the mailbox does not have yet carries a 'local:' placeholder
// instead of a remote id; outside the store it has no remote identity.
inline model::RemoteRef visible_ref(std::string remote_id, std::string change_key) {
  if (remote_id.rfind("local:", 0) == 0) return {};
  return {std::move(remote_id), std::move(change_key)};
}

inline std::string payload_json(const model::ItemPayload& payload) { return model::payload_to_json(payload); }

// A new local id: 32 lowercase hex digits, as the API has always shown them. The first 12 are the
// milliseconds since the epoch and the other 20 come from SQLite's random source, so that new
// rows go to the end of the primary key's index instead of to a random page of it (an initial
// sync inserts hundreds of thousands).
std::string new_local_id();

// PRAGMA integrity_check's verdict: empty when "ok", else its first findings.
Result<std::string, StoreError> integrity_problems(sqlite3* db, const std::string& what);

// A stored payload read back; a row that no longer parses is `corrupt`, naming `what`.
inline Result<model::ItemPayload, StoreError> parse_payload(model::FolderKind folder, const std::string& json,
                                                            std::string_view what) {
  auto p = model::payload_from_json(folder, json);
  if (!p) return Fail{StoreError{model::StoreErrorKind::corrupt, std::string(what) + ": stored item " + p.error()}};
  return std::move(*p);
}

struct SqliteStore::Impl {
  sqlite3* db = nullptr;
  std::mutex mu;
  std::unique_ptr<StatementCache> statements;

  // Write-behind: the engine's writes that may be lost without harm share one open transaction
  // (see behind()). It is committed by the next entry point that is not one of the engine's
  // (enter()), after kBehindOps writes, or by the flusher thread once it is kBehindAge old.
  static constexpr int kBehindOps = 128;
  static constexpr std::chrono::milliseconds kBehindAge{50};
  bool behind_open = false;
  int behind_ops = 0;
  // Each write-behind transaction has a number, one more than the last (behind_gen is the open
  // one's, or the last's). A record made behind names it as a ticket, and durable(ticket) makes
  // sure it reached the disk: attempts recorded by several mailboxes between two flushes share
  // one. The few whose commit failed are kept, with the failure, for the tickets that name them.
  std::uint64_t behind_gen = 0;
  std::map<std::uint64_t, StoreError> lost_gens;
  std::chrono::steady_clock::time_point behind_since;
  std::condition_variable behind_cv;
  bool closing = false;
  std::thread flusher;

  ~Impl() {
    {
      std::lock_guard lock(mu);
      closing = true;
      (void)settle();
    }
    behind_cv.notify_all();
    if (flusher.joinable()) flusher.join();
    statements.reset();  // finalize before closing
    sqlite3_close_v2(db);
  }

  // Locks the store for an entry point that reads or writes for others than the sync engine (the
  // CRM's API, webhooks, the operator): what is behind is committed first, so that nobody is told
  // of a change that a crash could still take back, and every durable write stays in order.
  std::unique_lock<std::mutex> enter() {
    std::unique_lock lock(mu);
    (void)settle();
    return lock;
  }

  // Locks the store for the sync engine's own reads and behind() writes, which may run inside
  // the open write-behind transaction: they see its changes, and their answers go only to the
  // engine, which reaches the world through durable writes (an attempt recorded, a message
  // begun). Also for a durable write that is one transaction(): its commit takes what is behind
  // along.
  std::unique_lock<std::mutex> enter_behind() { return std::unique_lock(mu); }

  // Commits the write-behind transaction, if one is open. Should that fail (a full disk), it is
  // rolled back: it held only what may be lost, and the durable write that follows reports the
  // trouble.
  Result<Unit, StoreError> settle() {
    if (!behind_open) return Unit{};
    behind_open = false;
    auto commit = cached("COMMIT");
    auto out = run(commit, "commit the engine's writes");
    if (!out) {
      auto rollback = cached("ROLLBACK");
      (void)run(rollback, "commit the engine's writes");
      lost(out.error());
    }
    return out;
  }

  // The write-behind transaction numbered `ticket` is on disk once this returns without error:
  // committed now if it is still open, or already by whoever committed it. An error when its
  // commit failed and it was rolled back.
  Result<Unit, StoreError> durable(std::uint64_t ticket) {
    if (behind_open && ticket == behind_gen) return settle();
    if (auto it = lost_gens.find(ticket); it != lost_gens.end()) return Fail{it->second};
    return Unit{};
  }

  // The open write-behind transaction was rolled back after `why`: tickets that name it fail.
  void lost(const StoreError& why) {
    lost_gens.insert_or_assign(behind_gen, why);
    while (lost_gens.size() > 64) lost_gens.erase(lost_gens.begin());
  }

  // Commits what is behind once it is kBehindAge old, so that another process (a backup, the
  // operator's commands) sees the engine's writes within that time.
  void start_flusher() {
    flusher = std::thread([this] {
      std::unique_lock lock(mu);
      while (!closing) {
        if (!behind_open) {
          behind_cv.wait(lock);
          continue;
        }
        const auto due = behind_since + kBehindAge;
        if (std::chrono::steady_clock::now() >= due) (void)settle();
        else behind_cv.wait_until(lock, due);
      }
    });
  }

  StatementRef cached(std::string_view sql) { return statements->get(sql); }

  Result<Unit, StoreError> exec(std::string_view sql, std::string_view what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, std::string(sql).c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    if (rc != SQLITE_OK) return Fail{sqlite_error(db, rc, what)};
    return Unit{};
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, flushed to disk; rolls back when it fails.
  // With the write-behind transaction open, `body` joins it as a savepoint and the commit takes
  // what was behind along (one flush for both); should `body` fail, only its own changes are
  // undone. The statements are prepared once, like every other.
  template <typename T, typename F>
  Result<T, StoreError> transaction(std::string_view what, F&& body) {
    const bool joined = behind_open;
    auto begin = cached(joined ? "SAVEPOINT durable" : "BEGIN IMMEDIATE");
    if (auto r = run(begin, what); !r) return Fail{r.error()};
    Result<T, StoreError> out = body();
    if (!out) {
      if (joined) {
        auto undo = cached("ROLLBACK TO durable");
        (void)run(undo, what);
        auto release = cached("RELEASE durable");
        if (!run(release, what)) (void)settle();
      } else {
        auto rollback = cached("ROLLBACK");
        (void)run(rollback, what);
      }
      return out;
    }
    if (joined) {
      auto release = cached("RELEASE durable");
      if (auto r = run(release, what); !r) {
        (void)settle();
        return Fail{r.error()};
      }
      behind_open = false;
    }
    auto commit = cached("COMMIT");
    if (auto r = run(commit, what); !r) {
      auto rollback = cached("ROLLBACK");
      (void)run(rollback, what);
      if (joined) lost(r.error());
      return Fail{r.error()};
    }
    return out;
  }

  // `body` (its statements, no transaction of its own) inside the write-behind transaction, as
  // a savepoint: should it fail, only its own changes are undone. For the engine's writes that a
  // crash or a power failure may take back without harm, because the next pass repeats them: a
  // page's commit with its cursor (the page is asked for again and matched by remote id), a
  // write's outcome once its attempt is on record (the write is found by its tag). Many of them
  // go to disk in one commit: an initial sync's pages share their index pages, a folder at rest
  // costs one statement instead of a transaction of its own, and a durable write that comes
  // along (a batch's attempts) commits them all with one flush.
  template <typename T, typename F>
  Result<T, StoreError> behind(std::string_view what, F&& body) {
    if (!behind_open) {
      auto begin = cached("BEGIN IMMEDIATE");
      if (auto r = run(begin, what); !r) return Fail{r.error()};
      behind_open = true;
      ++behind_gen;
      behind_ops = 0;
      behind_since = std::chrono::steady_clock::now();
      behind_cv.notify_all();
    }
    auto savepoint = cached("SAVEPOINT behind");
    if (auto r = run(savepoint, what); !r) return Fail{r.error()};
    Result<T, StoreError> out = body();
    if (!out) {
      auto undo = cached("ROLLBACK TO behind");
      (void)run(undo, what);
    }
    auto release = cached("RELEASE behind");
    if (auto r = run(release, what); !r) {
      (void)settle();
      return Fail{r.error()};
    }
    if (++behind_ops >= kBehindOps) (void)settle();
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

  // Query plumbing: prepare, step and check in one place, each error naming `what`.
  // Steps `st` to its end, calling `row(st)` for each row.
  template <typename S, typename F>
  Result<Unit, StoreError> rows(S& st, std::string_view what, F&& row) {
    if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), what)};
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) row(st);
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, what)};
    return Unit{};
  }
  // Every row of `st`, each made by `make(st)`.
  template <typename S, typename F>
  auto all(S& st, std::string_view what, F&& make) -> Result<std::vector<decltype(make(st))>, StoreError> {
    std::vector<decltype(make(st))> out;
    if (auto r = rows(st, what, [&](S& s) { out.push_back(make(s)); }); !r) return Fail{r.error()};
    return out;
  }

  // The first row of `st` made by `make(st)`, or nullopt when there is none.
  template <typename S, typename F>
  auto first(S& st, std::string_view what, F&& make) -> Result<std::optional<decltype(make(st))>, StoreError> {
    if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), what)};
    const int rc = st.step();
    if (rc == SQLITE_ROW) return std::optional<decltype(make(st))>(make(st));
    if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, what)};
    return std::optional<decltype(make(st))>();
  }

  // Brings the schema up to `target` (at most kSchemaVersion), one migration at a time.
  Result<Unit, StoreError> migrate(int target);
};

}  // namespace exsync::store
