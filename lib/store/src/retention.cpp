// Retention: pruning what only history needs, and the feed's horizon.
#include "store_impl.hpp"

#include <algorithm>

namespace exsync::store {

Result<SqliteStore::PruneReport, StoreError> SqliteStore::prune(const Retention& retention) {
  auto lock = impl_->enter();
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

}  // namespace exsync::store
