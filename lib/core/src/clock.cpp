#include "exsync/core/clock.hpp"

namespace exsync {

Clock::time_point SystemClock::now() const { return std::chrono::system_clock::now(); }

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

}  // namespace exsync
