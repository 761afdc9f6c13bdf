// Waiter: how asynchronous code waits for a while (a server's back-off), injectable so that tests
// can decide what waiting means.
// Thread-safety: AsioWaiter waits on the calling coroutine's executor; it holds no state.
#pragma once

#include <chrono>

#include "exsync/core/async.hpp"

namespace exsync {

class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual Task<void> wait(std::chrono::milliseconds duration) = 0;
};

// Waits on a steady timer. A cancelled wait (shutdown) simply ends early.
class AsioWaiter final : public Waiter {
 public:
  Task<void> wait(std::chrono::milliseconds duration) override;
  static AsioWaiter& instance();
};

}  // namespace exsync
