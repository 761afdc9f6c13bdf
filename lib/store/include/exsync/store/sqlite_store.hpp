// SqliteStore: the local store, one SQLite file holding every mailbox's items and sync cursors. It
// implements the engine's port (model::LocalStore) and the CRM's side (CrmStore, for the API).
//
// Crash safety: each page of remote changes and the cursor after it are written together, so a
// crash or SIGKILL at any point resumes from the last committed page and never loses or
// duplicates an item. The engine's pages and write outcomes go "behind": many of them share one
// transaction, committed within 50 ms, after 128 of them, at the end of the engine's round, or
// with the next durable write, so that an initial sync's pages share their index pages and a
// folder at rest costs one statement. A crash may take back the last of them, each whole, never
// in part, and the next pass repeats them. Everything else (the CRM's writes, an attempt
// recorded before it is sent, a message begun) is flushed to disk (WAL journal,
// synchronous=FULL) with what was behind before the call returns; the CRM's reads commit what
// is behind first, so nobody is told of a change a crash could take back.
//
// Thread-safety: every method may be called from any thread; calls are serialised by an internal
// mutex (SQLite allows one writer anyway). Other processes (`exsyncd items`, the CRM) may read the
// file while the daemon writes it; writers wait up to the busy timeout.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exsync/model/ports.hpp"
#include "exsync/store/crm_store.hpp"

namespace exsync::store {

struct BackupReport {
  std::int64_t pages = 0;
  std::int64_t bytes = 0;
  int schema_version = 0;
};

// Copies the store at `store` into a new file `to` with SQLite's online backup, while a daemon
// may be using it (WAL: the copy is one consistent snapshot, and the daemon is not held up). The
// copy is checked with PRAGMA integrity_check and synced before it is moved into place under
// `to`; an existing `to` is refused, never overwritten. Errors: io (paths), corrupt (the source
// or the copy fails its check), busy.
Result<BackupReport, model::StoreError> backup_store(const std::filesystem::path& store,
                                                     const std::filesystem::path& to);

class SqliteStore final : public model::LocalStore, public CrmStore {
 public:
  using ConflictEntry = store::ConflictEntry;
  using QuarantineEntry = store::QuarantineEntry;
  using OutboxEntry = store::OutboxEntry;
  using Backlog = store::Backlog;
  struct OpenOptions {
    // PRAGMA integrity_check before anything else: the daemon's start-up does it, so that a
    // damaged file stops it with a clear error instead of failing somewhere later. It reads the
    // whole file; the status and items commands skip it.
    bool check_integrity = false;
    // Migrate no further than this schema version: for tests of the migration from every
    // earlier version.
    int migrate_to = kSchemaVersion;
  };

  // Opens or creates the store and brings its schema up to date. Errors: io when the file cannot
  // be opened or created, corrupt when it is not a database or fails its integrity check (the
  // message names SQLite's first finding), or is of a newer schema than this exsyncd.
  static Result<std::unique_ptr<SqliteStore>, model::StoreError> open(const std::filesystem::path& path,
                                                                      const OpenOptions& options);
  static Result<std::unique_ptr<SqliteStore>, model::StoreError> open(const std::filesystem::path& path) {
    return open(path, OpenOptions{});
  }
  ~SqliteStore() override;

  Result<model::FolderCursor, model::StoreError> cursor(const std::string& mailbox,
                                                        model::FolderKind folder) override;
  Result<Unit, model::StoreError> begin_resync(const std::string& mailbox, model::FolderKind folder) override;
  Result<std::string, model::StoreError> id_space(const std::string& mailbox) override;
  Result<std::vector<std::string>, model::StoreError> remote_ids(const std::string& mailbox) override;
  Result<std::vector<std::string>, model::StoreError> folder_ids(const std::string& mailbox,
                                                                 model::FolderKind folder) override;
  Result<Unit, model::StoreError> adopt_id_space(const std::string& mailbox, const std::string& space,
                                                 const std::map<std::string, std::string>& renamed) override;
  Result<std::int64_t, model::StoreError> count_items(const std::string& mailbox, model::FolderKind folder) override;
  Result<std::set<std::string>, model::StoreError> unchanged(
      const std::string& mailbox, model::FolderKind folder, const std::vector<model::RemoteRef>& refs) override;
  Result<Unit, model::StoreError> settle() override;
  Result<model::PageOutcome, model::StoreError> commit_page(const std::string& mailbox,
                                                            model::FolderKind folder,
                                                            const model::PageCommit& page) override;

  Result<Unit, model::StoreError> begin_initial_sync(const std::string& mailbox, model::FolderKind folder,
                                                     std::int64_t total) override;
  Result<Unit, model::StoreError> record_failure(const std::string& mailbox, model::FolderKind folder,
                                                 const std::string& reason) override;
  Result<std::vector<std::string>, model::StoreError> quarantine_due(const std::string& mailbox,
                                                                     model::FolderKind folder,
                                                                     std::chrono::seconds first_retry) override;

  // The folder's items, ordered by local id.
  Result<std::vector<StoredItem>, model::StoreError> items(const std::string& mailbox, model::FolderKind folder) override;
  // At most `limit` items with local ids after `after` (empty: from the start), in id order.
  Result<std::vector<StoredItem>, model::StoreError> items_page(const std::string& mailbox, model::FolderKind folder,
                                                                const std::string& after, int limit) override;
  Result<std::optional<StoredItem>, model::StoreError> item(const std::string& mailbox, model::FolderKind folder,
                                                            const std::string& local_id) override;
  // Status of each folder the mailbox has synced or tried to.
  Result<std::vector<FolderStatus>, model::StoreError> status(const std::string& mailbox) override;
  // At most `limit` changes of the mailbox with seq > `after`.
  Result<std::vector<ChangeRecord>, model::StoreError> changes(const std::string& mailbox, std::int64_t after, int limit) override;

  Result<std::vector<model::PendingWrite>, model::StoreError> pending_writes(const std::string& mailbox,
                                                                             model::FolderKind folder) override;
  Result<bool, model::StoreError> begin_write(const model::PendingWrite& write) override;
  Result<std::vector<bool>, model::StoreError> begin_writes(std::span<const model::PendingWrite> writes) override;
  // Recorded behind (see commit_page), in the transaction the ticket names; make_durable()
  // commits it unless someone did already.
  Result<Attempts, model::StoreError> record_attempts(std::span<const model::PendingWrite> writes) override;
  Result<Unit, model::StoreError> make_durable(std::uint64_t ticket) override;
  Result<Unit, model::StoreError> complete_writes(const std::vector<CompletedWrite>& done) override;
  Result<Unit, model::StoreError> complete_write(const model::PendingWrite& write, const model::RemoteRef& written,
                                                 const model::ItemPayload* mailbox_version = nullptr) override;
  Result<Unit, model::StoreError> fail_write(const model::PendingWrite& write, const std::string& reason,
                                             bool park) override;
  Result<bool, model::StoreError> resolve_conflict(const std::string& mailbox, model::FolderKind folder,
                                                   const model::PendingWrite& write, const model::RemoteItem& remote,
                                                   bool local_wins) override;
  Result<bool, model::StoreError> restore_as_create(const model::PendingWrite& write) override;

  // An operator confirms held deletions: the next pass applies them. False when none are held.
  Result<bool, model::StoreError> confirm_deletions(const std::string& mailbox, model::FolderKind folder) override;

  // The CRM's writes. Each changes the item and queues it for the mailbox in one transaction.
  // `notify`: send invitations or cancellations to a meeting's attendees.
  Result<StoredItem, model::StoreError> local_create(const std::string& mailbox, model::FolderKind folder,
                                                     const model::ItemPayload& item, bool notify = false) override;
  // nullopt when the item does not exist.
  Result<std::optional<StoredItem>, model::StoreError> local_update(const std::string& mailbox, model::FolderKind folder,
                                                                    const std::string& local_id,
                                                                    const model::ItemPayload& item, bool notify = false);
  // false when the item does not exist.
  Result<bool, model::StoreError> local_delete(const std::string& mailbox, model::FolderKind folder,
                                               const std::string& local_id, bool notify = false);
  // Compare-and-set forms: the write happens only if the item's fields (payload JSON) are still
  // `expected`, as the caller read them, in the same transaction. A read-merge-write (PATCH) that
  // lost the race to a synced page therefore never reverts that page.
  Result<CrmWrite, model::StoreError> local_update_if(const std::string& mailbox, model::FolderKind folder,
                                                      const std::string& local_id, const model::ItemPayload& item,
                                                      const std::string& expected, bool notify = false) override;
  Result<CrmWrite, model::StoreError> local_delete_if(const std::string& mailbox, model::FolderKind folder,
                                                      const std::string& local_id, const std::string& expected,
                                                      bool notify = false) override;

  Result<std::vector<model::QueuedMessage>, model::StoreError> queued_messages(
      const std::string& mailbox) override;
  Result<Unit, model::StoreError> begin_send(const std::string& local_id) override;
  Result<Unit, model::StoreError> finish_send(const std::string& local_id, bool sent, const std::string& reason,
                                              bool final) override;

  // Queues a message for sending; returns its local id.
  Result<std::string, model::StoreError> queue_message(const std::string& mailbox, const model::OutgoingMessage& message) override;
  Result<std::optional<MessageStatus>, model::StoreError> message_status(const std::string& mailbox,
                                                                         const std::string& local_id) override;

  Result<std::vector<ConflictEntry>, model::StoreError> conflicts(const std::string& mailbox) override;

  Result<std::vector<QuarantineEntry>, model::StoreError> quarantine(const std::string& mailbox) override;

  Result<std::vector<OutboxEntry>, model::StoreError> outbox(const std::string& mailbox) override;
  Result<Backlog, model::StoreError> backlog() override;
  // The mailboxes with work for the remote side: pending (not parked) writes or queued messages.
  Result<std::vector<std::string>, model::StoreError> mailboxes_with_pending_work();

  // Removes what only history needs: feed entries, conflicts' losing versions, and sent or
  // failed messages (with their attachments) older than their retention, then checkpoints and
  // truncates the WAL. Never touches items, outbox entries or messages still to be sent.
  struct Retention {
    std::chrono::hours changes{24 * 30}, conflicts{24 * 90}, messages{24 * 30};
  };
  struct PruneReport {
    std::int64_t changes = 0, conflicts = 0, messages = 0;
  };
  Result<PruneReport, model::StoreError> prune(const Retention& retention);
  // The oldest cursor the changes feed still answers: every change after it is kept. 0 until
  // something was pruned; a cursor before it must read the items again.
  Result<std::int64_t, model::StoreError> feed_horizon() override;
  Result<std::vector<WebhookBacklog>, model::StoreError> webhook_backlog(const std::string& endpoint) override;
  Result<std::int64_t, model::StoreError> feed_head() override;
  Result<Unit, model::StoreError> advance_webhook(const std::string& endpoint, const std::string& mailbox,
                                                  std::int64_t seq) override;
  Result<Unit, model::StoreError> rewind_webhook(const std::string& endpoint, std::int64_t seq) override;

  // The schema version this build writes; stored in PRAGMA user_version.
  static constexpr int kSchemaVersion = 14;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  // The CRM's update and delete; `expected` (may be null) is the condition of the _if forms.
  Result<CrmWrite, model::StoreError> update_item(const std::string& mailbox, model::FolderKind folder,
                                                  const std::string& local_id, const model::ItemPayload& item,
                                                  const std::string* expected, bool notify);
  Result<CrmWrite, model::StoreError> delete_item(const std::string& mailbox, model::FolderKind folder,
                                                  const std::string& local_id, const std::string* expected,
                                                  bool notify);
  std::unique_ptr<Impl> impl_;
};

}  // namespace exsync::store
