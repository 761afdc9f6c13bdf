#include "exsync/sync/scheduler.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "exsync/log/log.hpp"

namespace exsync::sync {

struct Scheduler::Timer {
  explicit Timer(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
};

Scheduler::Scheduler(SyncEngine& engine, Schedule& schedule, LoadGovernor& governor, const Clock& clock,
                     std::vector<model::FolderKind> folders, SchedulerOptions options)
    : engine_(engine),
      schedule_(schedule),
      governor_(governor),
      clock_(clock),
      folders_(std::move(folders)),
      options_(options) {}

Scheduler::~Scheduler() = default;

void Scheduler::wake() {
  if (timer_) timer_->timer.cancel();
}

Task<void> Scheduler::run() {
  auto ex = co_await net::this_coro::executor;
  timer_ = std::make_unique<Timer>(ex);
  auto next_status = clock_.now() + options_.status_every;
  constexpr auto kLongest = std::chrono::hours(1);
  for (;;) {
    // One round done (`once`), a stop requested, or nothing to sync at all in `once`.
    const bool stopping = engine_.stop_requested() ||
                          (options_.one_round && (last_round_ || schedule_.size() == 0));
    if (stopping && in_flight_ == 0) break;
    if (!stopping && !governor_.paused()) {
      while (in_flight_ < governor_.max_concurrent()) {
        auto mailbox = schedule_.take_next();
        if (!mailbox) break;
        ++in_flight_;
        ++started_;
        net::co_spawn(ex, sync_one(std::move(*mailbox)), [](std::exception_ptr e) {
          if (e) std::rethrow_exception(e);  // a bug, not an outside failure
        });
      }
    }
    const auto now = clock_.now();
    if (now >= next_status) {
      log_status();
      next_status = now + options_.status_every;
    }
    // Sleep until something can start: the next due mailbox (if a slot is free), the end of a
    // pause, the next status line; a finished sync or wake() cuts it short.
    auto until = next_status;
    if (!stopping) {
      if (governor_.paused())
        until = std::min(until, governor_.paused_until());
      else if (auto due = schedule_.next_due(); due && in_flight_ < governor_.max_concurrent())
        until = std::min(until, *due);
    }
    const auto wait = std::clamp<Clock::duration>(until - now, Clock::duration::zero(), kLongest);
    if (wait == Clock::duration::zero() && !stopping && !governor_.paused() && in_flight_ < governor_.max_concurrent())
      continue;  // due now and a slot is free
    timer_->timer.expires_after(std::max<Clock::duration>(wait, std::chrono::milliseconds(1)));
    co_await timer_->timer.async_wait(net::as_tuple(net::use_awaitable));
  }
  log_status();
}

Task<void> Scheduler::sync_one(std::string mailbox) {
  auto outcome = co_await sync_mailbox(engine_, mailbox, folders_);
  --in_flight_;
  (outcome.error ? totals_.failed : totals_.succeeded) += 1;
  totals_.created += static_cast<std::uint64_t>(outcome.totals.created);
  totals_.updated += static_cast<std::uint64_t>(outcome.totals.updated);
  totals_.deleted += static_cast<std::uint64_t>(outcome.totals.deleted);
  totals_.written += static_cast<std::uint64_t>(outcome.totals.written);
  SyncOutcome result;
  result.changed = outcome.totals.created + outcome.totals.updated + outcome.totals.deleted + outcome.totals.written > 0;
  if (outcome.error) {
    const auto& e = *outcome.error;
    result.ok = false;
    if (e.kind == SyncError::Kind::remote) {
      result.server_backoff = e.remote.retry_after;
      result.throttled = e.remote.kind == model::RemoteErrorKind::throttled;
    }
    result.error = std::string(e.reason()) + ": " + e.message();
  }
  const auto done = schedule_.finished(mailbox, result);
  if (!result.ok) {
    const auto status = schedule_.status(mailbox);
    log::warn("sync.mailbox.backoff", {{"mailbox", mailbox},
                                       {"failures", status ? status->failures : 0},
                                       {"throttled", result.throttled},
                                       {"wait_ms", done.wait.count()}});
  }
  if (done.round) last_round_ = done.round;
  if (done.round) {
    // The round's work is all committed before it is reported done: a failure leaves what was
    // held back to the next pass, which repeats it (the disk's trouble shows in the next write).
    (void)co_await engine_.settle();
    const std::clock_t cpu_now = std::clock();
    const auto cpu_ms = static_cast<std::int64_t>(1000.0 * static_cast<double>(cpu_now - round_cpu_start_) / CLOCKS_PER_SEC);
    round_cpu_start_ = cpu_now;
    log::info("sync.round.done",
              {{"round", done.round->number},
               {"mailboxes", done.round->mailboxes},
               {"failed", done.round->failed},
               {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(done.round->duration).count()},
               {"cpu_ms", cpu_ms}});
  }
  wake();
}

void Scheduler::log_status() {
  const auto census = schedule_.census();
  const auto& g = governor_.stats();
  log::info("sync.scheduler.status", {{"mailboxes", schedule_.size()},
                                      {"syncing", in_flight_},
                                      {"due", census.due},
                                      {"waiting", census.waiting},
                                      {"backing_off", census.backing_off},
                                      {"limit", governor_.limit()},
                                      {"started", started_},
                                      {"throttled", g.throttled},
                                      {"connection_lost", g.connection_lost}});
}

}  // namespace exsync::sync
