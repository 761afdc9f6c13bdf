#include "exsync/sync/load_governor.hpp"

#include <algorithm>
#include <cmath>

#include "exsync/log/log.hpp"

namespace exsync::sync {

LoadGovernor::LoadGovernor(const Clock& clock, GovernorSettings settings)
    : clock_(clock), settings_(settings), limit_(std::max(1, settings.max_concurrent)) {
  settings_.max_concurrent = limit_;
  limit_ = std::clamp(settings.initial, 1, settings_.max_concurrent);
  settings_.decrease = std::clamp(settings_.decrease, 0.1, 0.95);
}

std::uint64_t LoadGovernor::sent() {
  ++in_flight_;
  return next_seq_++;
}

void LoadGovernor::end() { in_flight_ = std::max(0, in_flight_ - 1); }

void LoadGovernor::answered(std::uint64_t) {
  end();
  ++stats_.other_errors;
}

void LoadGovernor::succeeded(std::uint64_t) {
  end();
  ++stats_.successes;
  if (limit_ >= settings_.max_concurrent) return;
  if (++successes_in_row_ < limit_) return;
  if (slow_start_) {
    successes_in_row_ = 0;
    limit_ = std::min(settings_.max_concurrent, limit_ * 2);
    log::debug("sync.concurrency.raised", {{"limit", limit_}});
    return;
  }
  const auto now = clock_.now();
  if (now - last_change_ < settings_.grow_every) return;
  successes_in_row_ = 0;
  last_change_ = now;
  ++limit_;
  log::debug("sync.concurrency.raised", {{"limit", limit_}});
}

void LoadGovernor::throttled(std::uint64_t seq, bool whole_endpoint, std::chrono::milliseconds retry_after) {
  end();
  ++stats_.throttled;
  if (whole_endpoint) {
    const auto until = clock_.now() + retry_after;
    if (until > paused_until_) {
      paused_until_ = until;
      ++stats_.pauses;
      log::warn("sync.endpoint.paused", {{"retry_after_ms", retry_after.count()}});
    }
  }
  decrease(seq);
}

void LoadGovernor::connection_lost(std::uint64_t seq) {
  end();
  ++stats_.connection_lost;
  decrease(seq);
}

void LoadGovernor::decrease(std::uint64_t seq) {
  successes_in_row_ = 0;
  if (seq < window_start_) return;  // sent under the old limit: that overload was answered already
  // The first overload ends the doubling, which may have overshot by up to twice: halve.
  const double factor = slow_start_ ? 0.5 : settings_.decrease;
  slow_start_ = false;
  window_start_ = next_seq_;
  last_change_ = clock_.now();
  const int before = limit_;
  limit_ = std::max(1, static_cast<int>(std::floor(limit_ * factor)));
  if (limit_ == before) return;
  ++stats_.decreases;
  log::info("sync.concurrency.lowered", {{"limit", limit_}, {"was", before}});
}

void LoadGovernor::set_max_concurrent(int max_concurrent) {
  settings_.max_concurrent = std::max(1, max_concurrent);
  limit_ = std::min(limit_, settings_.max_concurrent);
}

}  // namespace exsync::sync
