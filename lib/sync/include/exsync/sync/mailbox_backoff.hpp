// MailboxBackoff: a mailbox that keeps failing is tried less and less often, up to a cap, so
// that one broken mailbox (removed, impersonation revoked, throttled hard) costs the tenant's
// budget and the log little while the others keep their pace.
//
// After the n-th failure in a row the mailbox waits base * 2^(n-1) (capped), or the server's own
// back-off when that is longer; a success forgets its failures.
// Thread-safety: none; use from the network thread. Time comes from the injected Clock.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "exsync/core/clock.hpp"

namespace exsync::sync {

class MailboxBackoff {
 public:
  MailboxBackoff(const Clock& clock, std::chrono::seconds base, std::chrono::seconds cap)
      : clock_(clock), base_(base), cap_(cap) {}

  // New limits (a reloaded configuration); waits already running keep their end.
  void set_limits(std::chrono::seconds base, std::chrono::seconds cap) {
    base_ = base;
    cap_ = cap;
  }

  // Whether the mailbox may be synced now.
  bool due(const std::string& mailbox) const;
  // Records a failure; returns how long the mailbox now waits.
  std::chrono::milliseconds failed(const std::string& mailbox, std::chrono::milliseconds server_backoff);
  void succeeded(const std::string& mailbox);

  int failures(const std::string& mailbox) const;
  // When a backing-off mailbox is due again; the epoch for one that is due now.
  Clock::time_point retry_at(const std::string& mailbox) const;

 private:
  struct State {
    int failures = 0;
    Clock::time_point retry_at{};
  };
  const Clock& clock_;
  std::chrono::seconds base_, cap_;
  std::map<std::string, State> state_;
};

}  // namespace exsync::sync
