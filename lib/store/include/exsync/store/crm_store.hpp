// CrmStore: the store as the CRM's side sees it (the API): its items, their ETags, the changes
// feed, the CRM's own writes with their conditions, messages, the outbox, conflicts, quarantine
// and the folders' status. SqliteStore implements it; the API knows nothing else of the store.
//
// Blocking, like the engine's port (model::LocalStore): call from a blocking pool, never from
// the network thread. Thread-safety: implementations serialise calls internally.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/model/folder.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/message.hpp"
#include "exsync/model/ports.hpp"

namespace exsync::store {

// One stored item as the CRM sees it.
struct StoredItem {
  std::string local_id;  // stable for the item's life in the store
  model::RemoteRef remote;
  std::string payload_json;  // the item's fields (contact JSON without identity)
};

// The item's entity tag for HTTP's conditional requests: it changes whenever the item's fields
// change, whichever side changed them (a quoted strong tag).
std::string item_etag(const StoredItem& item);

// The item as the CRM sees it: its fields with its identities and ETag (`id`, `remote_id`,
// `ews_id`, `change_key`, `etag`); nullopt when its stored fields cannot be read.
std::optional<std::string> item_json(const StoredItem& item, model::FolderKind folder);

// The outcome of a CRM write made on a condition.
struct CrmWrite {
  enum class Outcome {
    done,     // written; `item` is the item now (absent after a delete)
    missing,  // there is no such item
    changed,  // the item's fields are no longer the expected ones: nothing written, `item` is it now
  };
  Outcome outcome = Outcome::done;
  std::optional<StoredItem> item;
};

// A folder's sync status, for operators and the CRM.
struct FolderStatus {
  std::string folder;
  std::string last_success;   // RFC 3339 UTC of the last completed page; empty if never
  std::string last_error;     // empty when the last attempt succeeded
  std::string last_error_at;
  std::int64_t items = 0;
  std::int64_t deletions_held = 0;  // deletions waiting for an operator's confirmation
  std::int64_t quarantined = 0;     // items the mailbox refused to hand over (see quarantine())
  // While the initial sync (or a resync) is under way: how many items Exchange held when it began.
  std::optional<std::int64_t> initial_total;
};

// One entry of the changes feed: what happened to an item, in commit order.
struct ChangeRecord {
  std::int64_t seq = 0;  // strictly increasing across the store: the CRM's cursor
  std::string folder;
  std::string kind;  // created, updated, deleted
  std::string local_id;
  std::string remote_id;
  std::string at;
  std::optional<StoredItem> current;  // the item as it is now; absent once deleted
};

// How far a webhook endpoint has delivered a mailbox's feed (`cursor`, the last seq delivered)
// and where the feed ends (`head`).
struct WebhookBacklog {
  std::string mailbox;
  std::int64_t cursor = 0;
  std::int64_t head = 0;
};

// A message the CRM sent, as the CRM sees it: queued, sent, or failed with the reason.
struct MessageStatus {
  std::string local_id;
  std::string state;
  int attempts = 0;
  std::string last_error;
  std::string created_at;
  std::string sent_at;
};

// A conflict's losing version, kept for the CRM to show or restore.
struct ConflictEntry {
  std::int64_t id;
  std::string folder, local_id, remote_id, winner, losing_json, at;
};

// An item the mailbox refused to hand over, with the server's reason; its stored version
// (local_id, if the store has one) stays as it was until the item is read again.
struct QuarantineEntry {
  std::string folder, remote_id, local_id, code, reason, first_at, last_at;
  std::int64_t attempts = 0;
};

// A CRM write waiting for Exchange, as operators see it.
struct OutboxEntry {
  std::int64_t seq;
  std::string folder, op, local_id, state, last_error;
  int attempts;
};

// Writes and messages waiting for Exchange, over all mailboxes, for monitoring.
struct Backlog {
  std::int64_t pending_writes = 0, parked_writes = 0, queued_messages = 0, failed_messages = 0;
  std::int64_t quarantined_items = 0;
};

class CrmStore {
 public:
  virtual ~CrmStore() = default;

  // The folder's items, ordered by local id; or at most `limit` after `after` (empty: from the start).
  virtual Result<std::vector<StoredItem>, model::StoreError> items(const std::string& mailbox,
                                                                   model::FolderKind folder) = 0;
  virtual Result<std::vector<StoredItem>, model::StoreError> items_page(const std::string& mailbox,
                                                                        model::FolderKind folder,
                                                                        const std::string& after, int limit) = 0;
  virtual Result<std::optional<StoredItem>, model::StoreError> item(const std::string& mailbox, model::FolderKind folder,
                                                                    const std::string& local_id) = 0;
  // Status of each folder the mailbox has synced or tried to.
  virtual Result<std::vector<FolderStatus>, model::StoreError> status(const std::string& mailbox) = 0;
  // At most `limit` changes of the mailbox with seq > `after`, and the oldest cursor the feed
  // still answers (0 until it was pruned).
  virtual Result<std::vector<ChangeRecord>, model::StoreError> changes(const std::string& mailbox, std::int64_t after,
                                                                       int limit) = 0;
  virtual Result<std::int64_t, model::StoreError> feed_horizon() = 0;

  // Webhook deliveries (the webhooks module). The mailboxes whose feed holds entries past what
  // `endpoint` delivered; an endpoint seen for the first time starts at the feed's head (it
  // delivers what happens from then on; rewind_webhook() replays older entries).
  virtual Result<std::vector<WebhookBacklog>, model::StoreError> webhook_backlog(const std::string& endpoint) = 0;
  // The feed's last seq (0 when empty): cheap, to tell whether anything was added.
  virtual Result<std::int64_t, model::StoreError> feed_head() = 0;
  // Records that `endpoint` delivered the mailbox's entries through `seq` (durably: a restart
  // goes on after it, and never back).
  virtual Result<Unit, model::StoreError> advance_webhook(const std::string& endpoint, const std::string& mailbox,
                                                          std::int64_t seq) = 0;
  // Delivers again every entry after `seq`, in every mailbox: the CRM's replay. The caller checks
  // `seq` against feed_horizon() (entries before it are gone).
  virtual Result<Unit, model::StoreError> rewind_webhook(const std::string& endpoint, std::int64_t seq) = 0;
  // An operator confirms held deletions: the next pass applies them. False when none are held.
  virtual Result<bool, model::StoreError> confirm_deletions(const std::string& mailbox, model::FolderKind folder) = 0;

  // The CRM's writes: each changes the item and queues it for the mailbox in one transaction.
  // The _if forms write only if the item's fields (payload JSON) are still `expected`.
  // `notify`: send invitations or cancellations to a meeting's attendees.
  virtual Result<StoredItem, model::StoreError> local_create(const std::string& mailbox, model::FolderKind folder,
                                                             const model::ItemPayload& item, bool notify = false) = 0;
  virtual Result<CrmWrite, model::StoreError> local_update_if(const std::string& mailbox, model::FolderKind folder,
                                                              const std::string& local_id,
                                                              const model::ItemPayload& item,
                                                              const std::string& expected, bool notify = false) = 0;
  virtual Result<CrmWrite, model::StoreError> local_delete_if(const std::string& mailbox, model::FolderKind folder,
                                                              const std::string& local_id, const std::string& expected,
                                                              bool notify = false) = 0;

  // Queues a message for sending; returns its local id.
  virtual Result<std::string, model::StoreError> queue_message(const std::string& mailbox,
                                                               const model::OutgoingMessage& message) = 0;
  virtual Result<std::optional<MessageStatus>, model::StoreError> message_status(const std::string& mailbox,
                                                                                 const std::string& local_id) = 0;

  virtual Result<std::vector<ConflictEntry>, model::StoreError> conflicts(const std::string& mailbox) = 0;
  virtual Result<std::vector<QuarantineEntry>, model::StoreError> quarantine(const std::string& mailbox) = 0;
  virtual Result<std::vector<OutboxEntry>, model::StoreError> outbox(const std::string& mailbox) = 0;
  virtual Result<Backlog, model::StoreError> backlog() = 0;
};

}  // namespace exsync::store
