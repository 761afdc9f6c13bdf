#include "exsync/sync/load_governor.hpp"

#include <algorithm>
#include <cmath>

#include "exsync/log/log.hpp"

namespace exsync::sync {

LoadGovernor::LoadGovernor(const Clock& clock, GovernorSettings settings)
    : clock_(clock), settings_(settings), limit_(std::max(1, settings.max_concurrent)) {
  settings_.max_concurrent = limit_;
  settings_.decrease = std::clamp(settings_.decrease, 0.1, 0.95);
}

void LoadGovernor::succeeded() {
  ++stats_.successes;
  if (limit_ >= settings_.max_concurrent) return;
  if (++successes_in_row_ < limit_) return;
  const auto now = clock_.now();
  if (now - last_change_ < settings_.grow_every) return;
  successes_in_row_ = 0;
  last_change_ = now;
  ++limit_;
  log::debug("sync.concurrency.raised", {{"limit", limit_}});
}

void LoadGovernor::throttled(bool whole_endpoint, std::chrono::milliseconds retry_after) {
  ++stats_.throttled;
  if (whole_endpoint) {
    const auto until = clock_.now() + retry_after;
    if (until > paused_until_) {
      paused_until_ = until;
      ++stats_.pauses;
      log::warn("sync.endpoint.paused", {{"retry_after_ms", retry_after.count()}});
    }
  }
  decrease();
}

void LoadGovernor::connection_lost() {
  ++stats_.connection_lost;
  decrease();
}

void LoadGovernor::decrease() {
  successes_in_row_ = 0;
  const auto now = clock_.now();
  if (last_decrease_ != Clock::time_point{} && now - last_decrease_ < settings_.quiet) return;
  last_decrease_ = now;
  last_change_ = now;
  const int before = limit_;
  limit_ = std::max(1, static_cast<int>(std::floor(limit_ * settings_.decrease)));
  if (limit_ == before) return;
  ++stats_.decreases;
  log::info("sync.concurrency.lowered", {{"limit", limit_}, {"was", before}});
}

void LoadGovernor::set_max_concurrent(int max_concurrent) {
  settings_.max_concurrent = std::max(1, max_concurrent);
  limit_ = std::min(limit_, settings_.max_concurrent);
}

}  // namespace exsync::sync
