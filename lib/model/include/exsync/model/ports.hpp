// The two ports the sync engine drives: the remote mailbox service and the local store.
//
// The engine sees only these interfaces. `ews` implements RemoteMailboxService over Exchange Web
// Services (a Microsoft Graph adapter would be its sibling); `store` implements LocalStore over
// SQLite. Neither adapter knows the other.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"
#include "exsync/model/folder.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::model {

// The remote side, for every mailbox the service account may reach.
// Thread-safety: call from the network thread only (the one running its executor). Calls for
// different mailboxes may be in flight at the same time.
class RemoteMailboxService {
 public:
  virtual ~RemoteMailboxService() = default;

  // The changes in `folder` since `cursor` (empty: from the beginning), at most `max_changes`.
  // Errors: invalid_sync_state when the cursor is no longer accepted; see RemoteErrorKind.
  virtual Task<Result<ChangePage, RemoteError>> changes(const std::string& mailbox, FolderKind folder,
                                                        const std::string& cursor, int max_changes) = 0;

  // The current content of the items `ids`. An item that no longer exists is left out of the
  // result (its deletion will arrive through changes()); any other error fails the whole call.
  virtual Task<Result<std::vector<RemoteItem>, RemoteError>> fetch(const std::string& mailbox,
                                                                   FolderKind folder,
                                                                   const std::vector<std::string>& ids) = 0;
};

enum class StoreErrorKind { io, corrupt, busy, constraint };

struct StoreError {
  StoreErrorKind kind;
  std::string message;  // SQLite's words and the statement's purpose
};

// Where the engine resumes a folder.
struct FolderCursor {
  std::string cursor;      // empty: never synced, or resync in progress from the start
  bool resyncing = false;  // rows not seen again before the resync completes will be removed
};

// A page of remote changes, ready to be committed as one unit.
struct PageCommit {
  std::vector<RemoteItem> upserts;       // created or changed items, with their new content
  std::vector<std::string> unchanged;    // items reported again with the change key we hold
  std::vector<std::string> deletions;    // remote ids
  std::string next_cursor;
  bool completes_sync = false;  // the last page of this pass
};

struct PageOutcome {
  int created = 0;
  int updated = 0;
  int deleted = 0;
};

// The local side. Blocking: the engine runs these calls on its blocking pool, never on the network
// thread. Thread-safety: implementations serialise calls internally.
class LocalStore {
 public:
  virtual ~LocalStore() = default;

  virtual Result<FolderCursor, StoreError> cursor(const std::string& mailbox, FolderKind folder) = 0;

  // Forgets the folder's cursor and marks every stored row of it as not yet seen, so that a sync
  // from scratch re-matches rows by remote id and, when it completes, removes what was not seen.
  virtual Result<Unit, StoreError> begin_resync(const std::string& mailbox, FolderKind folder) = 0;

  // Of `refs`, the remote ids whose stored change key equals the given one.
  virtual Result<std::set<std::string>, StoreError> unchanged(const std::string& mailbox, FolderKind folder,
                                                              const std::vector<RemoteRef>& refs) = 0;

  // Applies the page and stores its cursor atomically: after a crash, either all of it or none
  // of it is in the store.
  virtual Result<PageOutcome, StoreError> commit_page(const std::string& mailbox, FolderKind folder,
                                                      const PageCommit& page) = 0;

  // Records why the folder's last sync failed (shown to operators and the CRM); the next
  // committed page clears it. `reason` must hold no secret.
  virtual Result<Unit, StoreError> record_failure(const std::string& mailbox, FolderKind folder,
                                                  const std::string& reason) = 0;
};

}  // namespace exsync::model
