// The two ports the sync engine drives: the remote mailbox service and the local store.
//
// The engine sees only these interfaces. `ews` implements RemoteMailboxService over Exchange Web
// Services (a Microsoft Graph adapter would be its sibling); `store` implements LocalStore over
// SQLite. Neither adapter knows the other.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"
#include "exsync/model/folder.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/message.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::model {

// What a backend can do for the CRM. The API refuses (422 not_supported) what the tenant's
// backend cannot, rather than storing what would never reach the mailbox.
struct RemoteCapabilities {
  bool contacts = true;
  bool calendar = true;
  bool send_mail = true;
  // Meetings can be written without telling their attendees (EWS: SendMeetingInvitations
  // SendToNone). Graph always sends invitations and cancellations.
  bool silent_meeting_writes = true;
};

// The remote side, for every mailbox the service account may reach.
// Thread-safety: call from the network thread only (the one running its executor). Calls for
// different mailboxes may be in flight at the same time.
class RemoteMailboxService {
 public:
  virtual ~RemoteMailboxService() = default;

  virtual RemoteCapabilities capabilities() const { return {}; }

  // The name of the ids this backend gives items ("ews", "graph"): the store keeps it beside a
  // mailbox's ids, and ids another backend gave must go through translate_ids() before this one
  // can use them.
  virtual std::string id_space() const = 0;

  // This backend's ids for `ids`, which the backend whose id_space() is `from` gave, for items
  // of `mailbox`. An id it could not translate (the item is gone, say) is left out.
  // Errors: `setup` when this backend cannot translate from `from` at all.
  virtual Task<Result<std::map<std::string, std::string>, RemoteError>> translate_ids(
      const std::string& mailbox, const std::string& from, const std::vector<std::string>& ids) = 0;

  // The changes in `folder` since `cursor` (empty: from the beginning), at most `max_changes`.
  // Errors: invalid_sync_state when the cursor is no longer accepted; see RemoteErrorKind.
  virtual Task<Result<ChangePage, RemoteError>> changes(const std::string& mailbox, FolderKind folder,
                                                        const std::string& cursor, int max_changes) = 0;

  // How many items the folder holds now: the size of an initial sync, for its progress.
  virtual Task<Result<std::int64_t, RemoteError>> count(const std::string& mailbox, FolderKind folder) = 0;

  // The current content of the items `ids`. An item that no longer exists is left out of the
  // result (its deletion will arrive through changes()); one the server refuses on its own is in
  // `refused`, one it did not get to in `unanswered`. An error that is not the item's (throttled,
  // access, the connection) fails the whole call. A call of at most fetch_limit() ids is one
  // request, so that a caller which retries after a throttled call loses only that request's work;
  // a calendar's series take one more, for their occurrences (EWS: the modified occurrences' own
  // items, asked again in place when throttled; Graph: the series' instances).
  virtual Task<Result<FetchedItems, RemoteError>> fetch(const std::string& mailbox, FolderKind folder,
                                                        const std::vector<std::string>& ids) = 0;
  virtual std::size_t fetch_limit() const = 0;

  // Creates `item` in the folder, tagged with `local_id` so that find_created() can find it after
  // an uncertain outcome. Returns its id and change key. `notify`: send meeting invitations to
  // an event's attendees (never otherwise).
  virtual Task<Result<RemoteRef, RemoteError>> create(const std::string& mailbox, FolderKind folder,
                                                      const ItemPayload& item, const std::string& local_id,
                                                      bool notify) = 0;

  // Several contacts created with one request where the protocol allows it (EWS: one CreateItem
  // of several items; Graph: one $batch), each tagged as create() tags it; at most
  // create_limit() at once. One outcome per item, in the order given: an item the server refused
  // on its own has its error there. An error that is not one item's (the connection, throttling,
  // an answer that is not to this request) fails the call, and then whether each item was
  // created is unknown (find_created() tells). The default creates them one by one.
  struct NewItem {
    ItemPayload item;
    std::string local_id;
  };
  using CreateOutcomes = std::vector<Result<RemoteRef, RemoteError>>;
  virtual std::size_t create_limit() const { return 1; }
  virtual Task<Result<CreateOutcomes, RemoteError>> create_many(const std::string& mailbox, FolderKind folder,
                                                                const std::vector<NewItem>& items);

  // The item created with `local_id`, if one exists.
  virtual Task<Result<std::optional<RemoteRef>, RemoteError>> find_created(const std::string& mailbox,
                                                                           FolderKind folder,
                                                                           const std::string& local_id) = 0;

  // Changes exactly the fields that differ between `before` and `after`. Unless `overwrite`,
  // fails with `conflict` when the item changed since `ref.change_key`. Returns the new ref (the
  // same ref when nothing differs).
  virtual Task<Result<RemoteRef, RemoteError>> update(const std::string& mailbox, const RemoteRef& ref,
                                                      const ItemPayload& before, const ItemPayload& after,
                                                      bool overwrite, bool notify) = 0;

  // Deletes the item of `folder` (recoverably where the protocol allows). item_not_found when
  // already gone.
  virtual Task<Result<Unit, RemoteError>> remove(const std::string& mailbox, FolderKind folder, const RemoteRef& ref,
                                                 bool notify) = 0;

  // Sends `message` from the mailbox and saves a copy, tagged with its local id, in Sent Items.
  virtual Task<Result<Unit, RemoteError>> send(const std::string& mailbox, const OutgoingMessage& message) = 0;

  // Whether Sent Items holds the message tagged `local_id` (an earlier send went through).
  virtual Task<Result<bool, RemoteError>> find_sent(const std::string& mailbox, const std::string& local_id) = 0;
};

enum class StoreErrorKind {
  io,
  corrupt,
  busy,
  constraint,
  // An answer named an item another mailbox holds: it was meant for that mailbox, and nothing
  // of it was stored (defence in depth behind the remote adapter's own checks).
  foreign_item,
};

struct StoreError {
  StoreErrorKind kind;
  std::string message;  // SQLite's words and the statement's purpose
};

// Where the engine resumes a folder.
struct FolderCursor {
  std::string cursor;      // empty: never synced, or resync in progress from the start
  bool resyncing = false;  // rows not seen again before the resync completes will be removed
  bool deletions_confirmed = false;  // an operator allowed a held mass deletion
};

// A page of remote changes, ready to be committed as one unit.
struct PageCommit {
  std::vector<RemoteItem> upserts;       // created or changed items, with their new content
  std::vector<std::string> unchanged;    // items reported again with the change key we hold
  std::vector<std::string> deletions;    // remote ids
  std::string next_cursor;
  bool completes_sync = false;  // the last page of this pass
  // The mass-deletion guard. Deletions (explicit ones, and the rows a completed resync did not
  // find again) are only marked on their pages; the page that completes the pass removes them
  // all, unless together they are more than this share of what the folder held before the first
  // of them (a burst spans pages and passes until it is removed). Then they stay, visibly held,
  // until an operator confirms. Folders of fewer than ten items are too small to judge; 1.0
  // turns the guard off.
  double max_delete_share = 1.0;
  // Items the mailbox refused to hand over: quarantined (their stored version, if any, stays as
  // it is, and a resync does not remove it), to be asked again later.
  std::vector<ItemRefusal> quarantined;
  // Quarantined items asked again that no longer exist: out of quarantine.
  std::vector<std::string> released;
};

struct PageOutcome {
  int created = 0;
  int updated = 0;
  int deleted = 0;
  int held = 0;      // remote changes not applied because the CRM's own change is pending
  int restored = 0;  // remote deletions of items the CRM modified: the item is created again
  int deletions_held = 0;  // marked deletions waiting for an operator (on a completing page)
  std::int64_t burst_base = 0;  // then: the folder's size before the burst began
  int quarantined = 0;  // items of this page in quarantine
};

// A change the CRM made that is waiting to be written to the mailbox.
enum class WriteOp { create, update, remove };

struct PendingWrite {
  std::int64_t seq = 0;
  WriteOp op = WriteOp::create;
  std::string local_id;
  RemoteRef ref;      // update, remove: the item as the store last saw it in the mailbox
  ItemPayload item;   // create, update: the CRM's version
  ItemPayload base;   // update: the version the CRM edited from (what the mailbox had)
  // create: the version the first attempt carried, once one was made. Should an attempt have
  // created the item without the daemon learning so, the item found again is brought from this
  // version to the CRM's current one, leaving alone what the mailbox changed since.
  std::optional<ItemPayload> attempted;
  int attempts = 0;   // earlier attempts; > 0 after a crash or failure mid-write
  bool notify = false;  // the CRM asked to send invitations or cancellations to attendees
  // The entry's version as read: every change the CRM makes to it moves it on, and each of the
  // engine's transitions below acts only on the version it read (compare-and-set).
  std::int64_t version = 0;
};

// A message waiting to be sent.
struct QueuedMessage {
  OutgoingMessage message;
  int attempts = 0;  // earlier attempts
  // The last attempt's outcome is unknown (a crash or a lost answer while sending): the message
  // may have gone out, and Sent Items must be searched before it is sent again. False after a
  // refusal the server stated itself: nothing went out, whatever copy the server kept.
  bool uncertain = false;
};

// The local side. Blocking: the engine runs these calls on its blocking pool, never on the network
// thread. Thread-safety: implementations serialise calls internally.
class LocalStore {
 public:
  virtual ~LocalStore() = default;

  virtual Result<FolderCursor, StoreError> cursor(const std::string& mailbox, FolderKind folder) = 0;

  // The id space (RemoteMailboxService::id_space()) of the remote ids stored for the mailbox;
  // empty for a mailbox the store has no remote id of yet.
  virtual Result<std::string, StoreError> id_space(const std::string& mailbox) = 0;

  // Every remote id stored for the mailbox (items, outbox, quarantine), other than the
  // placeholders of items the CRM created that the mailbox does not have yet.
  virtual Result<std::vector<std::string>, StoreError> remote_ids(const std::string& mailbox) = 0;

  // The remote ids of the items stored in the folder (placeholders of the CRM's creates left out).
  virtual Result<std::vector<std::string>, StoreError> folder_ids(const std::string& mailbox, FolderKind folder) = 0;

  // Moves the mailbox's stored ids to `space`, in one transaction: every stored remote id in
  // `renamed` takes its new name (items, outbox, quarantine, the feed, conflicts), and every
  // folder begins a resync (as begin_resync()), since a cursor of the old backend means nothing
  // to the new one. Ids not in `renamed` keep their old name: the resync removes them unless the
  // mailbox reports them again (through the mass-deletion guard).
  virtual Result<Unit, StoreError> adopt_id_space(const std::string& mailbox, const std::string& space,
                                                  const std::map<std::string, std::string>& renamed) = 0;

  // Forgets the folder's cursor and marks every stored row of it as not yet seen, so that a sync
  // from scratch re-matches rows by remote id and, when it completes, removes what was not seen
  // (through the mass-deletion guard). Items the CRM created that the mailbox does not have yet
  // are not the mailbox's to remove: they stay, with their outbox entries.
  virtual Result<Unit, StoreError> begin_resync(const std::string& mailbox, FolderKind folder) = 0;

  // How many items the folder holds (for the mass-deletion guard; only asked when a page deletes).
  virtual Result<std::int64_t, StoreError> count_items(const std::string& mailbox, FolderKind folder) = 0;

  // Of `refs`, the remote ids whose stored change key equals the given one.
  virtual Result<std::set<std::string>, StoreError> unchanged(const std::string& mailbox, FolderKind folder,
                                                              const std::vector<RemoteRef>& refs) = 0;

  // An initial sync (or a resync) of the folder begins and Exchange holds `total` items: shown as
  // its progress until a page completes the sync.
  virtual Result<Unit, StoreError> begin_initial_sync(const std::string& mailbox, FolderKind folder,
                                                      std::int64_t total) = 0;

  // Applies the page and stores its cursor atomically: after a crash, either all of it or none
  // of it is in the store. It need not be on disk when this returns (the store may group pages
  // into one commit): a page taken back by a crash is asked for again with its cursor.
  virtual Result<PageOutcome, StoreError> commit_page(const std::string& mailbox, FolderKind folder,
                                                      const PageCommit& page) = 0;

  // Quarantined items of the folder due to be asked again: an item's n-th retry waits
  // `first_retry` * 2^(n-1) after its last refusal, at most a day.
  virtual Result<std::vector<std::string>, StoreError> quarantine_due(const std::string& mailbox, FolderKind folder,
                                                                      std::chrono::seconds first_retry) = 0;

  // Commits what the store holds back of commit_page() and complete_write() (a store may group
  // them), so that other processes see it and it is on disk. The engine's round ends with it.
  virtual Result<Unit, StoreError> settle() { return Unit{}; }

  // What a folder's pass begins with, read at once (one trip to the store's thread instead of
  // three): its waiting writes (pending_writes()), its cursor and its quarantined items due.
  struct FolderStart {
    std::vector<PendingWrite> writes;
    FolderCursor cursor;
    std::vector<std::string> quarantine_due;
  };
  virtual Result<FolderStart, StoreError> folder_start(const std::string& mailbox, FolderKind folder,
                                                       std::chrono::seconds first_retry) {
    FolderStart out;
    auto writes = pending_writes(mailbox, folder);
    if (!writes) return Fail{std::move(writes).error()};
    auto at = cursor(mailbox, folder);
    if (!at) return Fail{std::move(at).error()};
    auto due = quarantine_due(mailbox, folder, first_retry);
    if (!due) return Fail{std::move(due).error()};
    return FolderStart{std::move(*writes), std::move(*at), std::move(*due)};
  }

  // Records why the folder's last sync failed (shown to operators and the CRM); the next
  // committed page clears it. `reason` must hold no secret.
  virtual Result<Unit, StoreError> record_failure(const std::string& mailbox, FolderKind folder,
                                                  const std::string& reason) = 0;

  // The CRM's changes waiting for the mailbox, oldest first (parked ones excluded). An entry
  // that cannot be written (its item is gone, or unreadable) is parked with the reason instead
  // of failing the read.
  virtual Result<std::vector<PendingWrite>, StoreError> pending_writes(const std::string& mailbox,
                                                                       FolderKind folder) = 0;

  // Counts an attempt before it is sent, so that after a crash the next attempt knows the
  // outcome of this one is uncertain; a create's first attempt also records the version it
  // carries (PendingWrite::attempted). False, and nothing to send, when the CRM changed or
  // removed the entry since it was read: the next pass writes it as it is then.
  virtual Result<bool, StoreError> begin_write(const PendingWrite& write) = 0;
  // begin_write() of each, in one transaction (one flush to disk for all): one answer each.
  virtual Result<std::vector<bool>, StoreError> begin_writes(std::span<const PendingWrite> writes) {
    std::vector<bool> out;
    for (const auto& w : writes) {
      auto begun = begin_write(w);
      if (!begun) return Fail{std::move(begun).error()};
      out.push_back(*begun);
    }
    return out;
  }

  // begin_writes(), except that the attempts are not yet on disk: nothing may be sent until
  // make_durable(ticket) has returned without error. Between the two the store may record other
  // mailboxes' attempts, so that one flush makes all of them durable instead of one each.
  struct Attempts {
    std::vector<bool> begun;  // one answer each, as begin_writes()
    std::uint64_t ticket = 0;
  };
  virtual Result<Attempts, StoreError> record_attempts(std::span<const PendingWrite> writes) {
    auto begun = begin_writes(writes);
    if (!begun) return Fail{std::move(begun).error()};
    return Attempts{std::move(*begun), 0};
  }
  // The attempts that record_attempts() answered with `ticket` are on disk once this returns
  // without error; an error means they were lost, and none of them may be sent.
  virtual Result<Unit, StoreError> make_durable(std::uint64_t ticket) {
    (void)ticket;
    return Unit{};
  }

  // The write succeeded and the mailbox now holds `written` (unused for remove). If the CRM
  // changed the item again meanwhile, what remains is kept as a pending update.
  // `mailbox_version`, when given, is the item as the mailbox holds it after the write (a create
  // found again and merged into what the mailbox changed since): the store takes it, unless the
  // CRM changed the item meanwhile.
  virtual Result<Unit, StoreError> complete_write(const PendingWrite& write, const RemoteRef& written,
                                                  const ItemPayload* mailbox_version = nullptr) = 0;
  // complete_write() of each, in one transaction: all are recorded, or (an error) none.
  struct CompletedWrite {
    const PendingWrite* write = nullptr;
    RemoteRef written;
    const ItemPayload* mailbox_version = nullptr;
  };
  virtual Result<Unit, StoreError> complete_writes(const std::vector<CompletedWrite>& done) {
    for (const auto& d : done)
      if (auto r = complete_write(*d.write, d.written, d.mailbox_version); !r) return r;
    return Unit{};
  }

  // The mailbox refused the write; `park` sets it aside for an operator after repeated failure.
  // Nothing happens when the CRM changed the entry since it was read (the next pass tries the
  // new version).
  virtual Result<Unit, StoreError> fail_write(const PendingWrite& write, const std::string& reason, bool park) = 0;

  // Both sides changed the item. The winner's content becomes the item's, the loser's version is
  // kept in the conflicts table and the feed reports a conflict. With the local side winning,
  // the pending update is rebased on `remote` so that its retry overwrites it. False, and nothing
  // changed, when the CRM changed the entry since it was read.
  virtual Result<bool, StoreError> resolve_conflict(const std::string& mailbox, FolderKind folder,
                                                    const PendingWrite& write, const RemoteItem& remote,
                                                    bool local_wins) = 0;

  // Messages waiting to be sent from the mailbox, oldest first.
  virtual Result<std::vector<QueuedMessage>, StoreError> queued_messages(const std::string& mailbox) = 0;

  // Counts a send attempt before it is made (state "sending"). A message left in that state,
  // by a crash or an attempt whose outcome is unknown, is queued again as `uncertain`.
  virtual Result<Unit, StoreError> begin_send(const std::string& local_id) = 0;

  // Records the outcome: sent, or failed with `reason` (final: given up; else queued again).
  virtual Result<Unit, StoreError> finish_send(const std::string& local_id, bool sent, const std::string& reason,
                                               bool final) = 0;

  // The mailbox deleted an item the CRM modified: the modification wins and the item will be
  // created again. False, and nothing changed, when the CRM changed the entry since it was read
  // (deleted the item, say).
  virtual Result<bool, StoreError> restore_as_create(const PendingWrite& write) = 0;
};

}  // namespace exsync::model
