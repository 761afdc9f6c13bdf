// LoadGovernor: how many mailboxes may sync at once, adapted to what the server can take, and
// whether the whole endpoint has asked us to pause.
//
// The limit starts at the configured maximum. A sign of overload (a throttled request, a lost
// connection) cuts it by `decrease` (at most once per `quiet`, so that one burst of refusals,
// answered for requests already in flight, counts once); `limit` requests that succeed in a row
// raise it by one, at most once per `grow_every`, back up to the maximum. Like TCP's congestion window, the daemon so
// runs at the edge of the server's budget instead of past it.
//
// Throttling answers mean different things: one for a single mailbox (EWS ErrorServerBusy:
// the impersonated mailbox's budget) is waited out by that mailbox alone; one for the whole
// endpoint (HTTP 503 or 429 with Retry-After) pauses every request until the time given.
// Thread-safety: none; use from the network thread. Time comes from the injected Clock.
#pragma once

#include <chrono>
#include <cstdint>

#include "exsync/core/clock.hpp"

namespace exsync::sync {

struct GovernorSettings {
  int max_concurrent = 8;
  double decrease = 0.75;                     // the limit is multiplied by this on overload
  std::chrono::milliseconds quiet{500};       // at most one decrease per this long
  std::chrono::milliseconds grow_every{1000}; // at most one increase per this long
};

struct GovernorStats {
  std::uint64_t successes = 0;
  std::uint64_t throttled = 0;        // throttled answers seen
  std::uint64_t connection_lost = 0;  // requests that failed on the network
  std::uint64_t decreases = 0;
  std::uint64_t pauses = 0;           // endpoint-wide pauses
};

class LoadGovernor {
 public:
  LoadGovernor(const Clock& clock, GovernorSettings settings);

  int limit() const { return limit_; }
  int max_concurrent() const { return settings_.max_concurrent; }
  // The endpoint may be called again from then on; the epoch when it was never paused.
  Clock::time_point paused_until() const { return paused_until_; }
  bool paused() const { return clock_.now() < paused_until_; }

  void succeeded();
  // A throttled answer; `whole_endpoint` pauses every request for `retry_after`.
  void throttled(bool whole_endpoint, std::chrono::milliseconds retry_after);
  // A request that failed on the network (reset, timeout): the server may be drowning.
  void connection_lost();
  // The operator changed the maximum (SIGHUP): the limit follows within it.
  void set_max_concurrent(int max_concurrent);

  const GovernorStats& stats() const { return stats_; }

 private:
  void decrease();

  const Clock& clock_;
  GovernorSettings settings_;
  int limit_;
  int successes_in_row_ = 0;
  Clock::time_point last_decrease_{};
  Clock::time_point last_change_{};
  Clock::time_point paused_until_{};
  GovernorStats stats_;
};

}  // namespace exsync::sync
