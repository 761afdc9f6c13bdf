#include "exsync/core/clock.hpp"

namespace exsync {

Clock::time_point SystemClock::now() const { return std::chrono::system_clock::now(); }

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

MonotonicClock::MonotonicClock(WallSource wall, SteadySource steady)
    : wall_(wall), steady_(steady), wall_at_start_(wall()), steady_at_start_(steady()) {}

Clock::time_point MonotonicClock::now() const {
  return wall_at_start_ + std::chrono::duration_cast<duration>(steady_() - steady_at_start_);
}

Clock::time_point MonotonicClock::wall(time_point t) const { return wall_() + (t - now()); }

MonotonicClock& MonotonicClock::instance() {
  static MonotonicClock clock;
  return clock;
}

}  // namespace exsync
