// Schedule: which mailbox to sync next, for a daemon that keeps thousands of mailboxes fresh with
// a bounded number in flight.
//
// Rules, in order:
//   1. A mailbox is never synced twice at once.
//   2. A mailbox that keeps failing waits longer and longer (MailboxBackoff: one interval, doubling
//      up to the cap, or the server's own back-off when longer); nothing makes it go earlier.
//      A mailbox the server throttled waits exactly the back-off the server asked for, and that
//      is not counted as a failure: its committed pages stand and it resumes where it stopped.
//   3. A prioritized mailbox (the CRM wrote to it, or it has writes waiting) goes before every
//      mailbox that is merely due, in the order the requests came.
//   4. Otherwise the mailbox due longest goes first: with more due than can run, every mailbox
//      gets its turn in rotation, and one slow or failing mailbox delays only its own slot.
//   5. After a sync, a mailbox is due again one interval after that sync started, stretched or
//      shrunk by a random share of up to `jitter`, so that mailboxes never march in step. The
//      interval is the mailbox's own: `pushed_interval` while its changes are pushed (streaming
//      notifications: the poll is only a safety net), else `interval`; with `active_interval`, a
//      mailbox whose last sync brought changes is polled after `active_interval`, the wait then
//      doubling with each quiet sync back up to `interval` (adaptive polling).
// A round is every mailbox synced once (or found backing off): each completed round is reported
// by finished(), for the log's `sync.round.done`.
// Thread-safety: none; use from the network thread. Time comes from the injected Clock; the
// jitter from a seeded generator, so that tests are repeatable.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include "exsync/core/clock.hpp"
#include "exsync/sync/mailbox_backoff.hpp"

namespace exsync::sync {

struct ScheduleSettings {
  std::chrono::seconds interval{300};
  double jitter = 0.1;                  // share of the interval, 0 to 0.5
  std::chrono::seconds backoff_cap{3600};
  std::uint32_t seed = 0;               // for the jitter
  std::chrono::seconds pushed_interval{1800};  // for mailboxes whose changes are pushed (rule 5)
  std::chrono::seconds active_interval{0};    // 0: no adaptive polling (rule 5)
};

// How a mailbox's sync ended, as far as scheduling cares.
struct SyncOutcome {
  bool ok = true;
  std::chrono::milliseconds server_backoff{0};  // the back-off the server asked for, if it failed so
  bool throttled = false;                        // the failure was the server's load, not the mailbox's
  std::string error;                             // one line for operators, when it failed
  bool changed = false;                          // it brought or wrote changes (adaptive polling)
};

enum class MailboxState { due, syncing, waiting, backing_off };
std::string_view mailbox_state_name(MailboxState state);  // "due", "syncing", ...

struct MailboxStatus {
  std::string mailbox;
  MailboxState state = MailboxState::due;
  bool prioritized = false;
  int failures = 0;                 // in a row
  Clock::time_point next_sync{};    // when it is due (meaningless while syncing)
  Clock::time_point last_started{};  // epoch: never
  Clock::time_point last_success{};  // epoch: never since the daemon started
  std::string last_error;            // of the last failed sync, kept until one succeeds
  bool pushed = false;               // its changes are pushed (streaming notifications)
  std::chrono::seconds interval{0};  // its polling interval now (rule 5)
};

class Schedule {
 public:
  Schedule(const Clock& clock, ScheduleSettings settings);

  // The mailboxes to keep in sync, in the order they are first taken. New ones are due now;
  // removed ones are forgotten (one in flight finishes first, then is dropped). Returns the
  // added and removed addresses.
  struct Change {
    std::vector<std::string> added, removed;
  };
  Change set_mailboxes(const std::vector<std::string>& mailboxes);

  // The mailbox to sync now, marked as in flight; nullopt when none is due.
  std::optional<std::string> take_next();

  struct Round {
    std::uint64_t number = 0;  // from 1
    std::size_t mailboxes = 0, failed = 0;
    Clock::duration duration{};
  };
  struct Finished {
    std::chrono::milliseconds wait{0};  // until the mailbox is due again
    std::optional<Round> round;         // the round this sync completed
  };
  // Reports the end of a sync started by take_next().
  Finished finished(const std::string& mailbox, const SyncOutcome& outcome);
  // A new interval (SIGHUP): it applies from each mailbox's next sync on.
  void set_interval(std::chrono::seconds interval);
  std::chrono::seconds interval() const { return settings_.interval; }

  // Puts the mailbox first in line (rule 3). One in flight is synced again as soon as it ends.
  void prioritize(const std::string& mailbox);
  // Whether the mailbox's changes are pushed (rule 5). Its next sync moves to one of its new
  // intervals after its last: later once pushed (a mailbox never synced keeps its turn), sooner
  // once they stop.
  void set_pushed(const std::string& mailbox, bool pushed);
  std::size_t pushed() const { return pushed_count_; }

  // When the next mailbox not in flight becomes due; nullopt when all are in flight or none exist.
  std::optional<Clock::time_point> next_due() const;
  std::size_t size() const { return entries_.size(); }
  std::size_t in_flight() const { return in_flight_; }
  std::optional<MailboxStatus> status(const std::string& mailbox) const;
  std::vector<MailboxStatus> statuses() const;  // in configured order

  // How many mailboxes stand where, counted without copying their statuses (for the log, the
  // service manager's STATUS line and the metrics, every few seconds over thousands).
  struct Census {
    std::size_t due = 0, syncing = 0, waiting = 0, backing_off = 0;
    std::size_t synced = 0;   // succeeded at least once since start
    std::size_t failing = 0;  // failed the last time, and not only throttled
    std::size_t with_error = 0;  // the last sync ended in an error (failing or throttled)
  };
  Census census() const;

 private:
  struct Key {
    Clock::time_point due;
    std::uint64_t seq;  // tie-break: configured order, then request order
    auto operator<=>(const Key&) const = default;
  };
  struct Entry {
    std::size_t order = 0;
    Key key{};
    bool queued_urgent = false;
    bool syncing = false;
    bool prioritized = false;   // go first when due (rule 3)
    bool removed = false;       // removed from the configuration while in flight
    bool throttled = false;     // waiting out the server's back-off
    bool pushed = false;        // rule 5
    std::chrono::seconds adaptive{0};  // the adaptive interval now; 0 when not adapting
    Clock::time_point last_started{}, last_success{};
    std::string last_error;
  };
  void enqueue(const std::string& mailbox, Entry& e, Clock::time_point due);
  void dequeue(Entry& e);
  MailboxStatus status_of(const std::string& mailbox, const Entry& e) const;
  MailboxState state_of(const Entry& e, int failures, Clock::time_point now) const;
  void start_round();
  std::optional<Round> end_round_if_complete();

  const Clock& clock_;
  ScheduleSettings settings_;
  MailboxBackoff backoff_;
  std::mt19937 rng_;
  std::uint64_t next_seq_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t pushed_count_ = 0;
  std::chrono::seconds interval_of(const Entry& e) const;
  std::unordered_map<std::string, Entry> entries_;
  std::set<std::pair<Key, std::string>> urgent_, regular_;
  // The mailboxes the current round still waits for.
  std::set<std::string> round_pending_;
  Round round_;
  Clock::time_point round_started_{};
};

}  // namespace exsync::sync
