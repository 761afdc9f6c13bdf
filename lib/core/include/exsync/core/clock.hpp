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
};

class SystemClock final : public Clock {
 public:
  time_point now() const override;
  // A process-wide instance, for wiring in main().
  static SystemClock& instance();
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
