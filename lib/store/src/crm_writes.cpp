// The CRM's writes: each changes the item and queues it in the outbox in one transaction.
#include "store_impl.hpp"

namespace exsync::store {

Result<StoredItem, StoreError> SqliteStore::local_create(const std::string& mailbox, model::FolderKind folder,
                                                         const model::ItemPayload& item, bool notify) {
  auto lock = impl_->enter();
  return impl_->transaction<StoredItem>("create item", [&]() -> Result<StoredItem, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    const auto fname = model::folder_name(folder);
    const auto data = payload_json(item);
    const auto id = new_local_id();
    auto ins = impl_->cached("INSERT INTO items(id, mailbox_id, folder, remote_id, change_key, data) "
                  "VALUES (?4, ?1, ?2, 'local:' || ?4, '', ?3)");
    ins.bind(1, *mid).bind(2, fname).bind(3, data).bind(4, id);
    if (auto r = impl_->run(ins, "create item"); !r) return Fail{r.error()};
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
  auto lock = impl_->enter();
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
  auto lock = impl_->enter();
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

}  // namespace exsync::store
