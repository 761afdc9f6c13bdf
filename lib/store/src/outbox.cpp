// The outbox: the CRM's changes waiting for the mailbox, and the engine's transitions on them
// (each a compare-and-set on the entry's version).
#include "store_impl.hpp"

#include <tuple>
#include <vector>

namespace exsync::store {

Result<std::vector<model::PendingWrite>, StoreError> SqliteStore::pending_writes(const std::string& mailbox,
                                                                                 model::FolderKind folder) {
  auto lock = impl_->enter_behind();
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
  auto begun = begin_writes(std::span<const model::PendingWrite>(&w, 1));
  if (!begun) return Fail{std::move(begun).error()};
  return static_cast<bool>(begun->front());
}

namespace {

// Counts an attempt at each write whose outbox entry is still the version it was read at; one
// answer each. No transaction of its own. (A template: the store's Impl is private to it.)
template <typename Impl>
Result<std::vector<bool>, StoreError> count_attempts(Impl& impl, std::span<const model::PendingWrite> writes) {
  // A create's base is unused otherwise: it keeps the version the first attempt carried.
  auto st = impl.cached("UPDATE outbox SET attempts = attempts + 1, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                        "base = CASE WHEN op = 'create' AND base IS NULL THEN ?2 ELSE base END "
                        "WHERE seq = ?1 AND version = ?3 AND state = 'pending'");
  std::vector<bool> out;
  out.reserve(writes.size());
  for (const auto& w : writes) {
    st.reset();
    st.bind(1, w.seq).bind(2, w.op == model::WriteOp::create ? payload_json(w.item) : std::string()).bind(3, w.version);
    if (auto r = impl.run(st, "begin write"); !r) return Fail{r.error()};
    out.push_back(sqlite3_changes(impl.db) > 0);
  }
  return out;
}

// Recorded behind; durable(ticket) puts them on disk (with whatever else is behind).
template <typename Impl>
Result<model::LocalStore::Attempts, StoreError> record_behind(Impl& impl, std::span<const model::PendingWrite> writes) {
  auto begun = impl.template behind<std::vector<bool>>("begin write", [&] { return count_attempts(impl, writes); });
  if (!begun) return Fail{std::move(begun).error()};
  return model::LocalStore::Attempts{std::move(*begun), impl.behind_gen};
}

}  // namespace

Result<std::vector<bool>, StoreError> SqliteStore::begin_writes(std::span<const model::PendingWrite> writes) {
  // All attempts are recorded with one flush to disk, before any of them is sent.
  auto lock = impl_->enter_behind();
  auto recorded = record_behind(*impl_, writes);
  if (!recorded) return Fail{std::move(recorded).error()};
  if (auto durable = impl_->durable(recorded->ticket); !durable) return Fail{std::move(durable).error()};
  return std::move(recorded->begun);
}

Result<model::LocalStore::Attempts, StoreError> SqliteStore::record_attempts(
    std::span<const model::PendingWrite> writes) {
  auto lock = impl_->enter_behind();
  return record_behind(*impl_, writes);
}

Result<Unit, StoreError> SqliteStore::make_durable(std::uint64_t ticket) {
  auto lock = impl_->enter_behind();
  return impl_->durable(ticket);
}

Result<Unit, StoreError> SqliteStore::complete_write(const model::PendingWrite& w, const model::RemoteRef& written,
                                                     const model::ItemPayload* mailbox_version) {
  return complete_writes({CompletedWrite{&w, written, mailbox_version}});
}

Result<Unit, StoreError> SqliteStore::complete_writes(const std::vector<CompletedWrite>& done) {
  auto lock = impl_->enter_behind();
  sqlite3* db = impl_->db;
  // Behind (Impl::behind): the attempts were on disk before the writes were sent, so should a
  // crash take this record back, the writes are checked again (found by their tags, or already
  // changed or gone) instead of repeated blindly.
  auto one = [&](const model::PendingWrite& w, const model::RemoteRef& written,
                 const model::ItemPayload* mailbox_version) -> Result<Unit, StoreError> {
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
    // The row's content and mailbox now (a RETURNING clause on the link would cost a temporary
    // table). A row gone meanwhile has nothing left to check or link.
    auto current = impl_->cached("SELECT data, mailbox_id FROM items WHERE id = ?1");
    current.bind(1, w.local_id);
    if (!current.valid()) return Fail{sqlite_error(db, current.prepare_rc(), "complete write")};
    rc = current.step();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "complete write")};
    const bool held = rc == SQLITE_ROW;
    const std::string data_now = held ? current.text(0) : std::string();
    const std::int64_t mailbox_id = held ? current.integer(1) : 0;
    current.reset();
    // The other rows that hold the written id, in one lookup. One of another mailbox means the
    // answer was meant for that mailbox. One of this mailbox: a pass between an attempt and this
    // record may have brought the new item in already, as an item of its own (an attempt whose
    // answer was lost, found again by its tag): the CRM's row is that item, and the copy goes,
    // reported deleted to the CRM that saw it arrive.
    std::vector<std::tuple<std::string, std::int64_t, std::string>> twins;
    if (held) {
      auto others = impl_->cached("SELECT id, mailbox_id, folder FROM items WHERE remote_id = ?2 AND id <> ?1");
      others.bind(1, w.local_id).bind(2, written.id);
      if (!others.valid()) return Fail{sqlite_error(db, others.prepare_rc(), "complete write")};
      std::int64_t foreign = 0;
      while ((rc = others.step()) == SQLITE_ROW) {
        if (others.integer(1) == mailbox_id)
          twins.emplace_back(others.text(0), others.integer(1), others.text(2));
        else
          foreign = others.integer(1);
      }
      if (rc != SQLITE_DONE) return Fail{sqlite_error(db, rc, "complete write")};
      others.reset();
      if (foreign != 0) {
        auto owner = impl_->cached("SELECT address FROM mailboxes WHERE id = ?1");
        owner.bind(1, foreign);
        if (!owner.valid()) return Fail{sqlite_error(db, owner.prepare_rc(), "complete write")};
        rc = owner.step();
        const std::string address = rc == SQLITE_ROW ? owner.text(0) : "mailbox " + std::to_string(foreign);
        owner.reset();
        return Fail{StoreError{model::StoreErrorKind::foreign_item,
                               "the answer to the write of " + w.local_id + " names item " + written.id + " of mailbox " +
                                   address + ": refused"}};
      }
    }
    for (const auto& [id, twin_mailbox, folder] : twins) {
      auto copy = impl_->cached("DELETE FROM items WHERE id = ?1");
      copy.bind(1, id);
      if (auto r = impl_->run(copy, "complete write"); !r) return Fail{r.error()};
      auto unqueue = impl_->cached("DELETE FROM outbox WHERE item_id = ?1");
      unqueue.bind(1, id);
      if (auto r = impl_->run(unqueue, "complete write"); !r) return Fail{r.error()};
      auto gone = impl_->cached("INSERT INTO changes(mailbox_id, folder, item_id, remote_id, kind) VALUES (?1, ?2, ?3, ?4, 'deleted')");
      gone.bind(1, twin_mailbox).bind(2, folder).bind(3, id).bind(4, written.id);
      if (auto r = impl_->run(gone, "complete write"); !r) return Fail{r.error()};
    }
    auto link = impl_->cached("UPDATE items SET remote_id = ?2, change_key = ?3 WHERE id = ?1");
    link.bind(1, w.local_id).bind(2, written.id).bind(3, written.change_key);
    if (auto r = impl_->run(link, "complete write"); !r) return Fail{r.error()};
    const auto pushed = payload_json(w.item);
    if (!data_now.empty() && data_now == pushed && mailbox_version) {
      // The mailbox holds more than the CRM wrote (its own changes since): the store takes that.
      auto take = impl_->cached("UPDATE items SET data = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
      take.bind(1, w.local_id).bind(2, payload_json(*mailbox_version));
      if (auto r = impl_->run(take, "complete write"); !r) return Fail{r.error()};
    }
    if (data_now.empty() || data_now == pushed) return impl_->run(drop, "complete write");
    // Edited again meanwhile: what was written becomes the base of the remaining update.
    auto rebase = impl_->cached("UPDATE outbox SET op = 'update', base = ?2, attempts = 0, last_error = NULL, "
                                "version = version + 1 WHERE seq = ?1");
    rebase.bind(1, w.seq).bind(2, pushed);
    return impl_->run(rebase, "complete write");
  };
  return impl_->behind<Unit>("complete write", [&]() -> Result<Unit, StoreError> {
    for (const auto& d : done)
      if (auto r = one(*d.write, d.written, d.mailbox_version); !r) return r;
    return Unit{};
  });
}

Result<Unit, StoreError> SqliteStore::fail_write(const model::PendingWrite& w, const std::string& reason, bool park) {
  auto lock = impl_->enter();
  auto st = impl_->cached("UPDATE outbox SET last_error = ?3, state = ?4, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') "
                          "WHERE seq = ?1 AND version = ?2");
  st.bind(1, w.seq).bind(2, w.version).bind(3, reason).bind(4, park ? "parked" : "pending");
  return impl_->run(st, "record write failure");
}

Result<bool, StoreError> SqliteStore::resolve_conflict(const std::string& mailbox, model::FolderKind folder,
                                                       const model::PendingWrite& w, const model::RemoteItem& remote,
                                                       bool local_wins) {
  auto lock = impl_->enter();
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
  auto lock = impl_->enter();
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

Result<std::vector<SqliteStore::OutboxEntry>, StoreError> SqliteStore::outbox(const std::string& mailbox) {
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT o.seq, o.folder, o.op, o.item_id, o.state, coalesce(o.last_error, ''), o.attempts FROM outbox o "
               "JOIN mailboxes m ON m.id = o.mailbox_id WHERE m.address = ?1 ORDER BY o.seq");
  st.bind(1, mailbox);
  return impl_->all(st, "read outbox", [](auto& st) {
    return OutboxEntry{st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), static_cast<int>(st.integer(6))};
  });
}

Result<SqliteStore::Backlog, StoreError> SqliteStore::backlog() {
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT (SELECT count(*) FROM outbox WHERE state = 'pending'), "
                          "(SELECT count(*) FROM outbox WHERE state = 'parked'), "
                          "(SELECT count(*) FROM messages WHERE state IN ('queued', 'sending')), "
                          "(SELECT count(*) FROM messages WHERE state = 'failed'), "
                          "(SELECT count(*) FROM quarantine)");
  auto counts = impl_->first(st, "read backlog", [](auto& st) {
    return Backlog{st.integer(0), st.integer(1), st.integer(2), st.integer(3), st.integer(4)};
  });
  if (!counts) return Fail{counts.error()};
  return counts->value_or(Backlog{});
}

Result<std::vector<std::string>, StoreError> SqliteStore::mailboxes_with_pending_work() {
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT m.address FROM mailboxes m WHERE "
                          "EXISTS (SELECT 1 FROM outbox o WHERE o.mailbox_id = m.id AND o.state = 'pending') OR "
                          "EXISTS (SELECT 1 FROM messages g WHERE g.mailbox_id = m.id AND g.state IN ('queued', 'sending')) "
                          "ORDER BY m.address");
  return impl_->all(st, "read pending work", [](auto& st) { return st.text(0); });
}

}  // namespace exsync::store
