// What the CRM reads: items, their ETags, the changes feed and conflicts.
#include "store_impl.hpp"

#include "exsync/model/item_json.hpp"

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

std::optional<std::string> item_json(const StoredItem& item, model::FolderKind folder) {
  auto payload = model::payload_from_json(folder, item.payload_json);
  if (!payload) return std::nullopt;
  return model::payload_to_json(*payload, model::ItemIdentity{item.local_id, item.remote, item_etag(item)});
}

Result<std::vector<StoredItem>, StoreError> SqliteStore::items(const std::string& mailbox,
                                                               model::FolderKind folder) {
  auto lock = impl_->enter();
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
  auto lock = impl_->enter();
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
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT i.id, i.remote_id, i.change_key, i.data FROM items i "
               "JOIN mailboxes m ON m.id = i.mailbox_id WHERE m.address = ?1 AND i.folder = ?2 AND i.id = ?3");
  st.bind(1, mailbox).bind(2, model::folder_name(folder)).bind(3, local_id);
  return impl_->first(st, "read item", [](auto& st) {
    return StoredItem{st.text(0), visible_ref(st.text(1), st.text(2)), st.text(3)};
  });
}

Result<std::vector<ChangeRecord>, StoreError> SqliteStore::changes(const std::string& mailbox, std::int64_t after,
                                                                   int limit) {
  auto lock = impl_->enter();
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
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT c.id, c.folder, c.item_id, c.remote_id, c.winner, c.losing, c.at FROM conflicts c "
               "JOIN mailboxes m ON m.id = c.mailbox_id WHERE m.address = ?1 ORDER BY c.id");
  st.bind(1, mailbox);
  return impl_->all(st, "read conflicts", [](auto& st) {
    return ConflictEntry{st.integer(0), st.text(1), st.text(2), st.text(3), st.text(4), st.text(5), st.text(6)};
  });
}

Result<std::int64_t, StoreError> SqliteStore::feed_horizon() {
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT value FROM store_meta WHERE key = 'changes_pruned_through'");
  auto horizon = impl_->first(st, "read feed horizon", [](auto& st) { return st.integer(0); });
  if (!horizon) return Fail{horizon.error()};
  return horizon->value_or(0);
}

// An endpoint not seen before starts at the feed's head.
Result<std::vector<WebhookBacklog>, StoreError> SqliteStore::webhook_backlog(const std::string& endpoint) {
  auto lock = impl_->enter();
  auto seen = impl_->cached("INSERT INTO webhook_endpoints(name, start_seq) "
                            "VALUES (?1, (SELECT coalesce(max(seq), 0) FROM changes)) ON CONFLICT(name) DO NOTHING");
  seen.bind(1, endpoint);
  if (auto r = impl_->run(seen, "register webhook endpoint"); !r) return Fail{r.error()};
  auto st = impl_->cached(
      "SELECT m.address, coalesce(w.seq, e.start_seq) AS cursor, h.head FROM "
      "(SELECT mailbox_id, max(seq) AS head FROM changes GROUP BY mailbox_id) h "
      "JOIN mailboxes m ON m.id = h.mailbox_id JOIN webhook_endpoints e ON e.name = ?1 "
      "LEFT JOIN webhook_cursors w ON w.endpoint = e.name AND w.mailbox_id = h.mailbox_id "
      "WHERE h.head > coalesce(w.seq, e.start_seq) ORDER BY m.address");
  st.bind(1, endpoint);
  return impl_->all(st, "read webhook backlog", [](auto& st) {
    return WebhookBacklog{st.text(0), st.integer(1), st.integer(2)};
  });
}

Result<std::int64_t, StoreError> SqliteStore::feed_head() {
  auto lock = impl_->enter();
  auto st = impl_->cached("SELECT coalesce(max(seq), 0) FROM changes");
  auto head = impl_->first(st, "read feed head", [](auto& st) { return st.integer(0); });
  if (!head) return Fail{head.error()};
  return head->value_or(0);
}

Result<Unit, StoreError> SqliteStore::advance_webhook(const std::string& endpoint, const std::string& mailbox,
                                                      std::int64_t seq) {
  auto lock = impl_->enter();
  auto st = impl_->cached("INSERT INTO webhook_cursors(endpoint, mailbox_id, seq) "
                          "SELECT ?1, id, ?3 FROM mailboxes WHERE address = ?2 "
                          "ON CONFLICT(endpoint, mailbox_id) DO UPDATE SET seq = max(seq, excluded.seq)");
  st.bind(1, endpoint).bind(2, mailbox).bind(3, seq);
  return impl_->run(st, "advance webhook cursor");
}

Result<Unit, StoreError> SqliteStore::rewind_webhook(const std::string& endpoint, std::int64_t seq) {
  auto lock = impl_->enter();
  return impl_->transaction<Unit>("rewind webhook cursor", [&]() -> Result<Unit, StoreError> {
    auto start = impl_->cached("INSERT INTO webhook_endpoints(name, start_seq) VALUES (?1, ?2) "
                               "ON CONFLICT(name) DO UPDATE SET start_seq = min(start_seq, excluded.start_seq)");
    start.bind(1, endpoint).bind(2, seq);
    if (auto r = impl_->run(start, "rewind webhook cursor"); !r) return r;
    auto cursors = impl_->cached("UPDATE webhook_cursors SET seq = min(seq, ?2) WHERE endpoint = ?1");
    cursors.bind(1, endpoint).bind(2, seq);
    return impl_->run(cursors, "rewind webhook cursor");
  });
}

}  // namespace exsync::store
