// PassRunner: one sync pass over many mailboxes, with a bounded number in flight.
//
// Mailboxes are taken in order by `max_concurrent` workers; a failing mailbox is logged
// (`sync.mailbox.failed`) and skipped, and never stops the others; with a MailboxBackoff it is
// then left out of the following passes for longer and longer (`sync.mailbox.backoff`). Every folder of a mailbox is
// synced in the configured order.
// Thread-safety: run on the network thread. Lifetime: the engine must outlive the runner.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "exsync/sync/mailbox_backoff.hpp"
#include "exsync/sync/sync_engine.hpp"

namespace exsync::sync {

struct MailboxOutcome {
  std::string mailbox;
  FolderSyncReport totals;            // summed over folders
  std::optional<SyncError> error;     // the first folder failure, if any
  bool skipped = false;               // backing off after earlier failures: not tried this pass
};

struct PassReport {
  std::vector<MailboxOutcome> mailboxes;  // in input order
  int failed() const;
  bool interrupted = false;
};

class PassRunner {
 public:
  // With `backoff`, mailboxes that keep failing are skipped until they are due again.
  explicit PassRunner(SyncEngine& engine, MailboxBackoff* backoff = nullptr) : engine_(engine), backoff_(backoff) {}

  Task<PassReport> run_pass(const std::vector<std::string>& mailboxes,
                            const std::vector<model::FolderKind>& folders, int max_concurrent);

 private:
  Task<void> worker(const std::vector<std::string>& mailboxes, const std::vector<model::FolderKind>& folders,
                    std::size_t& next, PassReport& report);
  Task<void> sync_mailbox(const std::string& mailbox, const std::vector<model::FolderKind>& folders,
                          MailboxOutcome& outcome);
  SyncEngine& engine_;
  MailboxBackoff* backoff_;
};

}  // namespace exsync::sync
