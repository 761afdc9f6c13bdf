// LoadGovernor: how many requests may be in flight to the remote endpoint at once, adapted to
// what the server can take, and whether the whole endpoint has asked us to pause.
//
// The limit starts low (`initial`) and doubles with each window of `limit` successes up to the
// configured maximum, until the server first shows overload (TCP's slow start), so that a daemon
// starting against a busy tenant does not open with a burst of refusals. A sign of overload (a throttled request, a lost
// connection) cuts it by `decrease`, once per window: answers to requests sent before the last
// cut do not cut it again, since they were asked under the old limit. `limit` requests that
// succeed in a row raise it by one, at most once per `grow_every`, back up to the maximum. Like
// TCP's congestion window, the daemon so runs at the edge of the server's budget instead of past
// it, and a cut takes effect at once, for every mailbox in flight.
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
  int initial = 4;                            // the limit to start from (at most the maximum)
  double decrease = 0.75;                     // the limit is multiplied by this on overload
  std::chrono::milliseconds grow_every{1000}; // at most one increase per this long
};

struct GovernorStats {
  std::uint64_t successes = 0;
  std::uint64_t throttled = 0;        // throttled answers seen
  std::uint64_t connection_lost = 0;  // requests that failed on the network
  std::uint64_t other_errors = 0;     // refused for another reason (no such mailbox, conflict, ...)
  std::uint64_t decreases = 0;
  std::uint64_t pauses = 0;           // endpoint-wide pauses
};

class LoadGovernor {
 public:
  LoadGovernor(const Clock& clock, GovernorSettings settings);

  int limit() const { return limit_; }
  int max_concurrent() const { return settings_.max_concurrent; }
  int in_flight() const { return in_flight_; }
  // The endpoint may be called again from then on; the epoch when it was never paused.
  Clock::time_point paused_until() const { return paused_until_; }
  bool paused() const { return clock_.now() < paused_until_; }
  // Whether a request may go out now.
  bool may_send() const { return !paused() && in_flight_ < limit_; }

  // A request goes out; returns its number, to give back with its answer.
  std::uint64_t sent();
  // The answer to request `seq`: each ends the request.
  void succeeded(std::uint64_t seq);
  // A throttled answer; `whole_endpoint` pauses every request for `retry_after`.
  void throttled(std::uint64_t seq, bool whole_endpoint, std::chrono::milliseconds retry_after);
  // A request that failed on the network (reset, timeout): the server may be drowning.
  void connection_lost(std::uint64_t seq);
  // Any other answer (a refusal that says nothing of load).
  void answered(std::uint64_t seq);
  // The operator changed the maximum (SIGHUP): the limit follows within it.
  void set_max_concurrent(int max_concurrent);

  const GovernorStats& stats() const { return stats_; }

 private:
  void decrease(std::uint64_t seq);
  void end();

  const Clock& clock_;
  GovernorSettings settings_;
  int limit_;
  int in_flight_ = 0;
  int successes_in_row_ = 0;
  bool slow_start_ = true;  // doubling until the first sign of overload
  std::uint64_t next_seq_ = 1;
  std::uint64_t window_start_ = 0;  // requests numbered below this were sent before the last cut
  Clock::time_point last_change_{};
  Clock::time_point paused_until_{};
  GovernorStats stats_;
};

}  // namespace exsync::sync
