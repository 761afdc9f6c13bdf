// Clock: the source of time for everything that schedules, expires or backs off.
//
// Code that needs "now" takes a Clock& instead of calling std::chrono directly, so that token
// expiry and backoff are tested with a ManualClock instead of sleeping.
// Thread-safety: SystemClock is stateless; ManualClock is safe to read and advance from any thread.
#pragma once

#include <atomic>
#include <chrono>

namespace exsync {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  using duration = time_point::duration;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // `t` on the wall clock, for people to read. The same instant for the wall clock itself.
  virtual time_point wall(time_point t) const { return t; }
};

class SystemClock final : public Clock {
 public:
  time_point now() const override;
  // A process-wide instance, for wiring in main().
  static SystemClock& instance();
};

// For scheduling: the wall-clock time when the process started plus the monotonic time since,
// so that a step of the system clock (NTP, an operator) neither stalls nor hurries due times,
// back-offs, pauses or token expiry. wall() converts to the wall clock for display.
class MonotonicClock final : public Clock {
 public:
  using WallSource = std::chrono::system_clock::time_point (*)();
  using SteadySource = std::chrono::steady_clock::time_point (*)();
  explicit MonotonicClock(WallSource wall = &std::chrono::system_clock::now,
                          SteadySource steady = &std::chrono::steady_clock::now);
  time_point now() const override;
  time_point wall(time_point t) const override;
  static MonotonicClock& instance();

 private:
  WallSource wall_;
  SteadySource steady_;
  time_point wall_at_start_;
  std::chrono::steady_clock::time_point steady_at_start_;
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(time_point start = time_point{std::chrono::seconds{1'700'000'000}})
      : now_(start.time_since_epoch().count()) {}
  time_point now() const override { return time_point{time_point::duration{now_.load()}}; }
  void advance(std::chrono::nanoseconds d) {
    now_ += std::chrono::duration_cast<time_point::duration>(d).count();
  }

 private:
  std::atomic<time_point::rep> now_;
};

}  // namespace exsync
