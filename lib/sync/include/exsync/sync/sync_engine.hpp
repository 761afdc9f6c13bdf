// SyncEngine: brings one mailbox folder in the local store up to date with the remote side.
//
// The engine is pure logic over the two ports of model/ports.hpp; it knows nothing of EWS,
// Graph, HTTP, XML or SQLite. One folder sync is a conversation:
//   cursor <- store;  loop { page <- remote.changes(cursor);  items <- remote.fetch(new and
//   changed ids the store does not already hold);  store.commit_page(items, deletions, next
//   cursor) }  until the page says it was the last.
// Each page commits atomically with its cursor, so an interruption at any point (crash, SIGKILL,
// network failure, stop request) resumes from the last committed page without losing or
// duplicating an item. When the remote side no longer accepts the cursor, the folder is
// resynced from scratch, matching stored rows by remote id.
//
// Thread-safety: sync_folder() runs on the network thread; store calls go to `blocking`.
// Several sync_folder() calls for different mailboxes may run concurrently.
// Lifetime: the ports and the pool must outlive the engine.
#pragma once

#include <atomic>
#include <mutex>
#include <set>
#include <optional>
#include <random>
#include <span>
#include <string>

#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"
#include "exsync/core/waiter.hpp"
#include "exsync/model/ports.hpp"

namespace exsync::sync {

enum class ConflictPolicy { remote_wins, local_wins };

struct SyncOptions {
  int max_changes_per_page = 512;  // EWS allows 1..512
  ConflictPolicy conflict = ConflictPolicy::remote_wins;
  int max_write_attempts = 3;      // a write refused this often is parked for an operator
  // Deletions beyond this share of a folder's items in one pass are held for an operator's
  // confirmation (a mailbox emptied by mistake, a migration gone wrong); 1.0 turns it off.
  double max_delete_share = 0.5;
  // A throttled request (ErrorServerBusy, HTTP 503/429) is retried after the back-off the server
  // asks for, plus a little jitter (at most half of it, at most a second) so that mailboxes
  // refused together do not return together; as long as the waits add up to at most
  // `max_inline_backoff` and at most `max_throttle_retries` times. A longer back-off fails the
  // mailbox with the server's figure, and the scheduler brings it back when it has passed.
  std::chrono::milliseconds max_inline_backoff{std::chrono::seconds(30)};
  int max_throttle_retries = 50;
  // An item the mailbox refuses to hand over (a poison item) is quarantined and the rest of its
  // page commits; it is asked again this long after the refusal, then after twice as long each
  // time, at most a day apart (and at once whenever the mailbox reports it changed).
  std::chrono::seconds quarantine_retry{std::chrono::minutes(15)};
};

struct FolderSyncReport {
  int created = 0;
  int updated = 0;
  int deleted = 0;
  int pages = 0;
  int fetched = 0;       // items whose content was downloaded
  bool resynced = false; // the cursor was refused and the folder was read again from scratch
  bool interrupted = false;  // a stop request ended the sync between two pages
  int written = 0;           // the CRM's changes written to the mailbox
  int write_failures = 0;    // the CRM's changes the mailbox refused (kept, with the reason)
  int conflicts = 0;
  int deletions_held = 0;    // deletions not applied, waiting for an operator's confirmation
  int throttled = 0;         // requests the server refused for load, waited for and retried
  int quarantined = 0;       // items the mailbox refused to hand over, set aside (sync.item.quarantined)
};

struct SyncError {
  enum class Kind { remote, store };
  Kind kind;
  model::RemoteError remote{model::RemoteErrorKind::server, "", "", {}};
  model::StoreError store{model::StoreErrorKind::io, ""};

  // "remote", "store": stable names for logs.
  std::string_view kind_name() const;
  // The specific reason: the remote error's kind ("mailbox_not_found") or "store".
  std::string_view reason() const;
  const std::string& message() const;
};

class SyncEngine {
 public:
  SyncEngine(model::RemoteMailboxService& remote, model::LocalStore& store, net::thread_pool& blocking,
             SyncOptions options = {}, Waiter& waiter = AsioWaiter::instance());

  Task<Result<FolderSyncReport, SyncError>> sync_folder(const std::string& mailbox, model::FolderKind folder);

  // Sends the messages the CRM queued for the mailbox; returns how many went out. A message is
  // never sent twice: an attempt is recorded before it is made, and a later attempt first looks
  // for the message's tag in Sent Items.
  Task<Result<int, SyncError>> send_messages(const std::string& mailbox);

  // Commits what the store holds back of the engine's writes (LocalStore::settle), so that other
  // processes (`exsyncd items`, a backup) see all of it; the scheduler does so at each round's end.
  Task<Result<Unit, SyncError>> settle();

  // Asks every running sync_folder() to stop after committing the page in flight.
  void request_stop() { stop_ = true; }
  bool stop_requested() const { return stop_; }

 private:
  // Before anything else for a mailbox: the store's ids of it are this backend's. After a switch
  // of backends they are translated (and every folder resynced) once; then nothing is asked.
  Task<Result<Unit, SyncError>> settle_id_space(const std::string& mailbox);
  Task<Result<FolderSyncReport, SyncError>> sync_folder_pages(const std::string& mailbox, model::FolderKind folder);
  Task<Result<Unit, SyncError>> note_initial_size(const std::string& mailbox, model::FolderKind folder,
                                                  FolderSyncReport& report);
  // Writes the CRM's pending changes; fails only on trouble that stops the whole mailbox.
  Task<Result<Unit, SyncError>> push_writes(const std::string& mailbox, model::FolderKind folder,
                                            std::vector<model::PendingWrite> writes, FolderSyncReport& report);
  // One write's outcome: the mailbox's answer, or `settled` when the store has already taken
  // care of it (a conflict the mailbox won, a restored deletion, an entry the CRM changed
  // meanwhile, left for the next pass).
  struct WriteAttempt {
    Result<model::RemoteRef, model::RemoteError> written = model::RemoteRef{};
    bool settled = false;
    std::optional<model::ItemPayload> mailbox_version;  // see LocalStore::complete_write
  };
  // Fails only when the store does.
  // One write: its attempt recorded, sent, and its outcome recorded.
  Task<Result<Unit, SyncError>> push_one(const std::string& mailbox, model::FolderKind folder, model::PendingWrite& w,
                                         FolderSyncReport& report);
  // First attempts at creating contacts, several to a request (RemoteMailboxService::create_many).
  Task<Result<Unit, SyncError>> push_creates(const std::string& mailbox, model::FolderKind folder,
                                             std::span<model::PendingWrite> writes, FolderSyncReport& report);
  Task<Result<WriteAttempt, model::StoreError>> write_one(const std::string& mailbox, model::FolderKind folder,
                                                          model::PendingWrite& write, FolderSyncReport& report);

  // The current content of one item a write needs: nullopt when it is gone. The mailbox
  // refusing to hand it over fails the write.
  Task<Result<std::optional<model::RemoteItem>, model::RemoteError>> fetch_one(const std::string& mailbox,
                                                                               model::FolderKind folder,
                                                                               const std::string& id);
  // Downloads `ids` into `commit`: items as upserts, refused ones as quarantined.
  Task<Result<Unit, SyncError>> fetch_into(const std::string& mailbox, model::FolderKind folder,
                                           std::vector<std::string> ids, model::PageCommit& commit,
                                           FolderSyncReport& report);

  // Calls `request()` again after the server's back-off while it answers `throttled`.
  template <typename Request>
  std::invoke_result_t<Request&> with_backoff(const std::string& mailbox, std::string_view operation,
                                              FolderSyncReport& report, Request request);

  model::RemoteMailboxService& remote_;
  model::LocalStore& store_;
  net::thread_pool& blocking_;
  SyncOptions options_;
  Waiter& waiter_;
  std::minstd_rand jitter_rng_;
  std::atomic<bool> stop_{false};
  std::mutex settled_mu_;
  std::set<std::string> settled_;  // mailboxes whose stored ids are known to be this backend's
};

}  // namespace exsync::sync
