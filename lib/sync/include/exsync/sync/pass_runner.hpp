// PassRunner: one sync pass over many mailboxes, with a bounded number in flight.
//
// Mailboxes are taken in order by `max_concurrent` workers; a failing mailbox is logged
// (`sync.mailbox.failed`) and skipped, and never stops the others. Every folder of a mailbox is
// synced in the configured order. `exsyncd once` runs one pass; `run` keeps mailboxes fresh
// with the Scheduler instead.
// Thread-safety: run on the network thread. Lifetime: the engine must outlive the runner.
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

struct PassReport {
  std::vector<MailboxOutcome> mailboxes;  // in input order
  int failed() const;
  bool interrupted = false;
};

// Sends the mailbox's queued messages, then syncs each folder in order; stops at the first failure
// (the next folder would most likely fail the same way). Logs each folder's result.
Task<MailboxOutcome> sync_mailbox(SyncEngine& engine, const std::string& mailbox,
                                  const std::vector<model::FolderKind>& folders);

class PassRunner {
 public:
  explicit PassRunner(SyncEngine& engine) : engine_(engine) {}

  Task<PassReport> run_pass(const std::vector<std::string>& mailboxes,
                            const std::vector<model::FolderKind>& folders, int max_concurrent);

 private:
  Task<void> worker(const std::vector<std::string>& mailboxes, const std::vector<model::FolderKind>& folders,
                    std::size_t& next, PassReport& report);
  SyncEngine& engine_;
};

}  // namespace exsync::sync
