// Messages the CRM sends: queued, attempted, sent or failed.
#include "store_impl.hpp"

#include "exsync/model/message_json.hpp"

namespace exsync::store {

Result<std::string, StoreError> SqliteStore::queue_message(const std::string& mailbox,
                                                          const model::OutgoingMessage& message) {
  auto lock = impl_->enter();
  return impl_->transaction<std::string>("queue message", [&]() -> Result<std::string, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    std::string id = new_local_id();
    auto ins = impl_->cached("INSERT INTO messages(id, mailbox_id, request) VALUES (?3, ?1, ?2)");
    ins.bind(1, *mid).bind(2, model::message_to_json(message)).bind(3, id);
    if (auto r = impl_->run(ins, "queue message"); !r) return Fail{r.error()};
    return id;
  });
}

Result<std::optional<MessageStatus>, StoreError> SqliteStore::message_status(const std::string& mailbox,
                                                                             const std::string& local_id) {
  auto lock = impl_->enter();
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
  auto lock = impl_->enter_behind();
  // Usually there is none: asked first by index alone, without the IN list's and the ORDER BY's
  // temporary tables, which each pass of each mailbox would otherwise build.
  auto mid = impl_->mailbox_id(mailbox, false);
  if (!mid) return Fail{mid.error()};
  if (*mid == 0) return std::vector<model::QueuedMessage>{};
  auto any = impl_->cached("SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND state = 'queued') "
                           "OR EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ?1 AND state = 'sending')");
  any.bind(1, *mid);
  auto waiting = impl_->first(any, "read messages", [](auto& st) { return st.integer(0) != 0; });
  if (!waiting) return Fail{waiting.error()};
  if (!waiting->value_or(false)) return std::vector<model::QueuedMessage>{};
  auto st = impl_->cached("SELECT g.id, g.request, g.attempts, g.state = 'sending' FROM messages g JOIN mailboxes m ON m.id = g.mailbox_id "
               "WHERE m.address = ?1 AND g.state IN ('queued', 'sending') ORDER BY g.created_at, g.rowid");
  st.bind(1, mailbox);
  std::vector<model::QueuedMessage> out;
  std::optional<StoreError> unreadable;
  auto read = impl_->rows(st, "read messages", [&](auto& st) {
    auto m = model::message_from_json(st.text(1));
    if (!m) {
      if (!unreadable) unreadable = StoreError{model::StoreErrorKind::corrupt, "stored message " + st.text(0) + " " + m.error()};
      return;
    }
    m->local_id = st.text(0);
    out.push_back({std::move(*m), static_cast<int>(st.integer(2)), st.integer(3) != 0});
  });
  if (!read) return Fail{read.error()};
  if (unreadable) return Fail{*unreadable};
  return out;
}

Result<Unit, StoreError> SqliteStore::begin_send(const std::string& local_id) {
  auto lock = impl_->enter();
  auto st = impl_->cached("UPDATE messages SET state = 'sending', attempts = attempts + 1, "
               "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') WHERE id = ?1");
  st.bind(1, local_id);
  return impl_->run(st, "begin send");
}

Result<Unit, StoreError> SqliteStore::finish_send(const std::string& local_id, bool sent, const std::string& reason,
                                                  bool final) {
  auto lock = impl_->enter();
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

}  // namespace exsync::store
