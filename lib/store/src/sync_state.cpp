// The engine's side of the sync state: cursors, pages of remote changes (with the deletion guard
// and the quarantine), failures, and the folders' status.
#include "store_impl.hpp"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "exsync/core/time_format.hpp"

namespace exsync::store {

Result<model::FolderCursor, StoreError> SqliteStore::cursor(const std::string& mailbox,
                                                            model::FolderKind folder) {
  auto lock = impl_->enter_behind();
  auto st = impl_->cached("SELECT f.cursor, f.resyncing, f.deletions_confirmed "
               "FROM folder_state f JOIN mailboxes m ON m.id = f.mailbox_id WHERE m.address = ?1 AND f.folder = ?2");
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  auto found = impl_->first(st, "read cursor", [](auto& st) {
    return model::FolderCursor{st.text(0), st.integer(1) != 0, st.integer(2) != 0};
  });
  if (!found) return Fail{found.error()};
  return found->value_or(model::FolderCursor{});
}

Result<std::int64_t, StoreError> SqliteStore::count_items(const std::string& mailbox, model::FolderKind folder) {
  auto lock = impl_->enter_behind();
  auto st = impl_->cached(
      "SELECT count(*) FROM items i JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2");
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  auto n = impl_->first(st, "count items", [](auto& st) { return st.integer(0); });
  if (!n) return Fail{n.error()};
  return n->value_or(0);
}

Result<Unit, StoreError> SqliteStore::begin_resync(const std::string& mailbox, model::FolderKind folder) {
  auto lock = impl_->enter();
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
  auto lock = impl_->enter_behind();
  std::set<std::string> out;
  auto mid = impl_->mailbox_id(mailbox, false);
  if (!mid) return Fail{mid.error()};
  if (*mid == 0 || refs.empty()) return out;
  // A folder still empty here (its initial sync's first page) holds none of them.
  auto any = impl_->cached("SELECT EXISTS (SELECT 1 FROM items WHERE mailbox_id = ?1 AND folder = ?2)");
  any.bind(1, *mid).bind(2, model::folder_name(folder));
  auto holds = impl_->first(any, "compare change keys", [](auto& st) { return st.integer(0) != 0; });
  if (!holds) return Fail{holds.error()};
  if (!holds->value_or(false)) return out;
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

Result<Unit, StoreError> SqliteStore::settle() {
  std::lock_guard lock(impl_->mu);
  return impl_->settle();
}

Result<model::PageOutcome, StoreError> SqliteStore::commit_page(const std::string& mailbox,
                                                                model::FolderKind folder,
                                                                const model::PageCommit& page) {
  auto lock = impl_->enter_behind();
  sqlite3* db = impl_->db;
  // A page's commit goes behind (Impl::behind): should a crash take it back, with its cursor,
  // the page is asked for again and its items matched by remote id.
  const bool nothing = page.upserts.empty() && page.unchanged.empty() && page.deletions.empty() &&
                       page.quarantined.empty() && page.released.empty();
  if (nothing) {
    // The common pass of a folder at rest: no resync under way, no burst of deletions marked or
    // held. Then the page only moves the cursor on, and one statement does it (a burst or a
    // resync takes the whole path below).
    auto quiet = impl_->cached("UPDATE folder_state SET cursor = ?3, last_synced_at = strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                               "last_error = NULL, last_error_at = NULL, deletions_confirmed = 0, "
                               "initial_total = CASE WHEN ?4 THEN NULL ELSE initial_total END "
                               "WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1) AND folder = ?2 "
                               "AND resyncing = 0 AND burst_base IS NULL AND deletions_held = 0");
    quiet.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, page.next_cursor)
        .bind(4, std::int64_t{page.completes_sync ? 1 : 0});
    auto moved = impl_->behind<bool>("commit page", [&]() -> Result<bool, StoreError> {
      if (auto r = impl_->run(quiet, "commit page"); !r) return Fail{r.error()};
      return sqlite3_changes(db) == 1;
    });
    if (!moved) return Fail{moved.error()};
    if (*moved) return model::PageOutcome{};
  }
  auto body = [&]() -> Result<model::PageOutcome, StoreError> {
    model::PageOutcome outcome;
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);

    // The page's time, written as the columns' defaults would write it, but formatted once for
    // the page instead of by SQLite for each column of each row.
    const std::string now = format_rfc3339_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));

    // Every applied change also goes into the feed the CRM follows, in the same transaction.
    auto feed = impl_->cached("INSERT INTO changes(mailbox_id, folder, item_id, remote_id, kind, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    auto record = [&](const std::string& item_id, const std::string& remote_id, std::string_view kind) {
      feed.reset();
      feed.bind(1, *mid).bind(2, fname).bind(3, item_id).bind(4, remote_id).bind(5, kind).bind(6, now);
      return impl_->run(feed, "record change");
    };

    // The rows holding the remote id, one index lookup for two questions: is it this folder's,
    // or another mailbox's (a remote id names one item of one mailbox)? The update and the
    // insert have no RETURNING clause: SQLite builds a temporary table for one on every run,
    // which an initial sync would pay for each of its items.
    auto held_row = impl_->cached("SELECT rowid, id, mailbox_id, folder FROM items WHERE remote_id = ?1");
    auto update = impl_->cached("UPDATE items SET change_key = ?2, data = ?3, seen = 1, doomed = 0, "
                     "updated_at = ?4 WHERE rowid = ?1");
    auto insert = impl_->cached("INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data, created_at, updated_at) "
                     "VALUES (?6, ?1, ?2, ?3, ?4, ?5, ?7, ?7)");
    // The CRM's pending change to an item wins over the mailbox's until it is written; a
    // conflict, if any, is resolved when the write is attempted. A CRM delete has no item row
    // left, only its outbox entry naming the remote id: the item must not come back as a new
    // one (with a new local id) while that delete waits or is parked.
    auto pending = impl_->cached("SELECT o.seq, o.op FROM outbox o LEFT JOIN items i ON i.id = o.item_id "
                      "WHERE o.mailbox_id = ?1 AND o.folder = ?2 "
                      "AND (i.remote_id = ?3 OR (o.op = 'delete' AND i.id IS NULL AND o.remote_id = ?3))");
    // Whether the folder has any pending CRM write or quarantined item at all, asked once per
    // page: usually it has neither, and its items need not be looked up one by one.
    auto any = [&](const char* sql, std::string_view what) -> Result<bool, StoreError> {
      auto st = impl_->cached(sql);
      st.bind(1, *mid).bind(2, fname);
      if (!st.valid()) return Fail{sqlite_error(db, st.prepare_rc(), what)};
      const int rc = st.step();
      if (rc != SQLITE_ROW) return Fail{sqlite_error(db, rc, what)};
      const bool found = st.integer(0) != 0;
      st.reset();
      return found;
    };
    auto writes_pending = any("SELECT EXISTS (SELECT 1 FROM outbox WHERE mailbox_id = ?1 AND folder = ?2)", "check outbox");
    if (!writes_pending) return Fail{writes_pending.error()};
    auto pending_op = [&](const std::string& remote_id) -> Result<std::string, StoreError> {
      if (!*writes_pending) return std::string();
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
      held_row.reset();
      held_row.bind(1, item.ref.id);
      if (!held_row.valid()) return Fail{sqlite_error(db, held_row.prepare_rc(), "update item")};
      std::int64_t rowid = 0, other = 0;
      std::string id;
      int rc;
      while ((rc = held_row.step()) == SQLITE_ROW) {
        if (held_row.integer(2) == *mid && held_row.text(3) == fname) {
          rowid = held_row.integer(0);
          id = held_row.text(1);
        } else if (held_row.integer(2) != *mid) {
          other = held_row.integer(2);
        }
      }
      if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "update item")};
      held_row.reset();
      if (rowid != 0) {
        update.reset();
        update.bind(1, rowid).bind(2, item.ref.change_key).bind_borrowed(3, data).bind(4, now);
        if (auto r = impl_->run(update, "update item"); !r) return Fail{r.error()};
        if (auto r = record(id, item.ref.id, "updated"); !r) return Fail{r.error()};
        ++outcome.updated;
        continue;
      }
      held_row.reset();
      // A remote id names one item of one mailbox: one that another mailbox holds came in an
      // answer meant for that mailbox, and nothing of this page may be stored.
      if (other != 0) {
        auto foreign = impl_->owner_elsewhere(owner, item.ref.id, *mid);
        if (!foreign) return Fail{foreign.error()};
        return Fail{StoreError{model::StoreErrorKind::foreign_item,
                               "the page for " + mailbox + " names item " + item.ref.id + " of mailbox " + *foreign +
                                   ": refused, nothing of it stored"}};
      }
      id = new_local_id();
      insert.reset();
      insert.bind(1, *mid).bind(2, fname).bind(3, item.ref.id).bind(4, item.ref.change_key).bind_borrowed(5, data).bind(6, id)
          .bind(7, now);
      if (auto r = impl_->run(insert, "insert item"); !r) return Fail{r.error()};
      if (auto r = record(id, item.ref.id, "created"); !r) return Fail{r.error()};
      ++outcome.created;
    }

    // Rows already marked are left alone: rewriting them would put their pages in the WAL.
    auto seen = impl_->cached("UPDATE items SET seen = 1, doomed = 0 WHERE mailbox_id = ?1 AND folder = ?2 AND remote_id = ?3 "
                              "AND (seen = 0 OR doomed = 1)");
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
    auto quarantined = any("SELECT EXISTS (SELECT 1 FROM quarantine WHERE mailbox_id = ?1 AND folder = ?2)",
                           "check quarantine");
    if (!quarantined) return Fail{quarantined.error()};
    auto release_all = [&](const auto& ids, auto id_of) -> Result<Unit, StoreError> {
      if (!*quarantined) return Unit{};
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
  return impl_->behind<model::PageOutcome>("commit page", body);
}

Result<Unit, StoreError> SqliteStore::begin_initial_sync(const std::string& mailbox, model::FolderKind folder,
                                                        std::int64_t total) {
  // Behind: the size is only the sync's progress, and the pages that follow it commit after it.
  // Should a crash take it back, no page has been stored since, and the pass begins again.
  auto lock = impl_->enter_behind();
  return impl_->behind<Unit>("record the folder's size", [&]() -> Result<Unit, StoreError> {
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
  auto lock = impl_->enter();
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

Result<std::vector<FolderStatus>, StoreError> SqliteStore::status(const std::string& mailbox) {
  auto lock = impl_->enter();
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

Result<std::vector<std::string>, StoreError> SqliteStore::quarantine_due(const std::string& mailbox,
                                                                         model::FolderKind folder,
                                                                         std::chrono::seconds first_retry) {
  auto lock = impl_->enter_behind();
  auto st = impl_->cached("SELECT q.remote_id FROM quarantine q JOIN mailboxes m ON m.id = q.mailbox_id "
                          "WHERE m.address = ?1 AND q.folder = ?2 AND "
                          "unixepoch('now') - unixepoch(q.last_at) >= min(?3 * (1 << min(q.attempts - 1, 20)), 86400) "
                          "ORDER BY q.remote_id");
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, static_cast<std::int64_t>(first_retry.count()));
  return impl_->all(st, "read quarantine", [](auto& st) {
    return st.text(0);
  });
}

Result<std::vector<SqliteStore::QuarantineEntry>, StoreError> SqliteStore::quarantine(const std::string& mailbox) {
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT q.folder, q.remote_id, coalesce(i.id, ''), q.code, q.reason, q.first_at, q.last_at, "
                          "q.attempts FROM quarantine q JOIN mailboxes m ON m.id = q.mailbox_id "
                          "LEFT JOIN items i ON i.mailbox_id = q.mailbox_id AND i.folder = q.folder AND i.remote_id = q.remote_id "
                          "WHERE m.address = ?1 ORDER BY q.first_at, q.remote_id");
  st.bind(1, mailbox);
  return impl_->all(st, "read quarantine", [](auto& st) {
    return QuarantineEntry{st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6), st.integer(7)};
  });
}

Result<bool, StoreError> SqliteStore::confirm_deletions(const std::string& mailbox, model::FolderKind folder) {
  auto lock = impl_->enter();
  auto st = impl_->cached("UPDATE folder_state SET deletions_confirmed = 1 WHERE folder = ?2 AND deletions_held > 0 AND "
               "mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)");
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  if (auto r = impl_->run(st, "confirm deletions"); !r) return Fail{r.error()};
  return sqlite3_changes(impl_->db) > 0;
}

}  // namespace exsync::store
