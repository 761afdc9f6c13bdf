// sync_mailbox(): one mailbox brought up to date end to end, the unit the Scheduler runs.
//
// Sends the mailbox's queued messages, then syncs each configured folder in order, and stops at
// the first failure (the next folder would most likely fail the same way). Each folder's result
// is logged (`sync.folder.done`), each failure too (`sync.mailbox.failed`); a failing mailbox
// never affects another.
// Thread-safety: network thread. Lifetime: the engine outlives the call.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "exsync/sync/sync_engine.hpp"

namespace exsync::sync {

struct MailboxOutcome {
  std::string mailbox;
  FolderSyncReport totals;            // summed over folders
  std::optional<SyncError> error;     // the first folder failure, if any
};

// Sends the mailbox's queued messages, then syncs each folder in order.
Task<MailboxOutcome> sync_mailbox(SyncEngine& engine, const std::string& mailbox,
                                  const std::vector<model::FolderKind>& folders);

}  // namespace exsync::sync
