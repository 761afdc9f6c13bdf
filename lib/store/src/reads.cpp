// What the CRM reads: items, their ETags, the changes feed and conflicts.
#include "store_impl.hpp"

namespace exsync::store {

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

Result<std::vector<StoredItem>, StoreError> SqliteStore::items(const std::string& mailbox,
                                                               model::FolderKind folder) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 "
               "ORDER BY i.id");
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  return impl_->all(st, "list items", [](auto& st) {
    return StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)};
  });
}

Result<std::vector<StoredItem>, StoreError> SqliteStore::items_page(const std::string& mailbox,
                                                                    model::FolderKind folder,
                                                                    const std::string& after, int limit) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 AND i.id > ?3 "
               "ORDER BY i.id LIMIT ?4");
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, after).bind(4, std::int64_t{limit});
  return impl_->all(st, "list items", [](auto& st) {
    return StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)};
  });
}

Result<std::optional<StoredItem>, StoreError> SqliteStore::item(const std::string& mailbox, model::FolderKind folder,
                                                                const std::string& local_id) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 AND i.id = ?3");
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, local_id);
  return impl_->first(st, "read item", [](auto& st) {
    return StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)};
  });
}

Result<std::vector<ChangeRecord>, StoreError> SqliteStore::changes(const std::string& mailbox, std::int64_t after,
                                                                   int limit) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT c.seq, c.folder, c.kind, c.item_id, c.remote_id, c.at, i.id, i.remote_id, i.change_key, i.data "
               "FROM changes c JOIN mailboxes m ON m.id = c.mailbox_id LEFT JOIN items i ON i.id = c.item_id "
               "WHERE m.address = ?1 AND c.seq > ?2 ORDER BY c.seq LIMIT ?3");
  st.bind(1, mailbox).bind(2, after).bind(3, std::int64_t{limit});
  return impl_->all(st, "read changes", [](auto& st) {
    ChangeRecord c{st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), std::nullopt};
    if (!st.text(6).empty()) c.current = StoredItem{st.text(6), visible_ref(st.text(7), st.text(8)), st.text(9)};
    return c;
  });
}

Result<std::vector<SqliteStore::ConflictEntry>, StoreError> SqliteStore::conflicts(const std::string& mailbox) {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT c.id, c.folder, c.item_id, c.remote_id, c.winner, c.losing, c.at FROM conflicts c "
               "JOIN mailboxes m ON m.id = c.mailbox_id WHERE m.address = ?1 ORDER BY c.id");
  st.bind(1, mailbox);
  return impl_->all(st, "read conflicts", [](auto& st) {
    return ConflictEntry{st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6)};
  });
}

Result<std::int64_t, StoreError> SqliteStore::feed_horizon() {
  std::lock_guard lock(impl_->mu);
  auto st = impl_->cached("SELECT value FROM store_meta WHERE key = 'changes_pruned_through'");
  auto horizon = impl_->first(st, "read feed horizon", [](auto& st) { return st.integer(0); });
  if (!horizon) return Fail{horizon.error()};
  return horizon->value_or(0);
}

}  // namespace exsync::store
