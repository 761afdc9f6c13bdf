// Scheduler: keeps every mailbox in sync, continuously, for `exsyncd run`.
//
// It starts a sync for the next mailbox the Schedule names whenever a slot is free (fewer than
// `max_concurrent_mailboxes` in flight) and the endpoint is not paused, and sleeps until the next
// mailbox is due, a sync ends, or wake() is called. Each sync is one mailbox end to end
// (sync_mailbox()); its result goes back to the Schedule (next due time or back-off, logged as
// `sync.mailbox.backoff`). Every `status_every` it logs `sync.scheduler.status`; each completed
// round, `sync.round.done`. With `one_round` (`exsyncd once`) it returns after the first round:
// every mailbox synced once or failed, a throttled one retried after the server's back-off.
// How many of the mailboxes in flight may have a request out at once is the LoadGovernor's
// limit, applied request by request (GovernedRemote), so that a cut takes effect at once.
// Thread-safety: network thread only. Lifetime: everything passed in outlives run().
#pragma once

#include <ctime>
#include <memory>
#include <vector>

#include "exsync/core/async.hpp"
#include "exsync/sync/load_governor.hpp"
#include "exsync/sync/mailbox_sync.hpp"
#include "exsync/sync/schedule.hpp"

namespace exsync::sync {

struct SchedulerOptions {
  bool one_round = false;
  std::chrono::seconds status_every{300};
};

class Scheduler {
 public:
  Scheduler(SyncEngine& engine, Schedule& schedule, LoadGovernor& governor, const Clock& clock,
            std::vector<model::FolderKind> folders, SchedulerOptions options = {});
  ~Scheduler();

  // Runs until the engine is asked to stop (then call wake()); returns once every sync in flight
  // has ended.
  Task<void> run();
  // Look again now: a mailbox was prioritized, the mailbox list or the limits changed, or a stop
  // was requested.
  void wake();

  int in_flight() const { return in_flight_; }
  std::uint64_t started() const { return started_; }  // syncs started since run() began
  // What the syncs since run() began brought, for monitoring.
  struct Totals {
    std::uint64_t succeeded = 0, failed = 0;          // mailbox syncs
    std::uint64_t created = 0, updated = 0, deleted = 0;  // items from Exchange into the store
    std::uint64_t written = 0;                        // CRM changes written to Exchange
  };
  const Totals& totals() const { return totals_; }
  // The last completed round, if any.
  const std::optional<Schedule::Round>& last_round() const { return last_round_; }

 private:
  Task<void> sync_one(std::string mailbox);
  void log_status();

  struct Timer;
  SyncEngine& engine_;
  Schedule& schedule_;
  LoadGovernor& governor_;
  const Clock& clock_;
  std::vector<model::FolderKind> folders_;
  SchedulerOptions options_;
  std::optional<Schedule::Round> last_round_;
  // The process's CPU time when the current round began (the first: when the scheduler was
  // made, after start-up), for the round's cpu_ms.
  std::clock_t round_cpu_start_ = std::clock();
  std::unique_ptr<Timer> timer_;
  int in_flight_ = 0;
  std::uint64_t started_ = 0;
  Totals totals_;
};

}  // namespace exsync::sync
