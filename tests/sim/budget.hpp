// Budget: Exchange Online's EWS throttling, as the simulator applies it.
//
// Exchange Online charges each request to a budget: the impersonated mailbox's under
// impersonation, the caller's own otherwise (delegate access), and refuses what exceeds it:
//   - more than `max_connections` requests in flight: ErrorExceededConnectionCount (27 in EXO);
//   - more than `max_sync` SyncFolderItems/SyncFolderHierarchy in flight: ErrorServerBusy with
//     BackOffMilliseconds `sync_backoff_ms` (about 5 and 5000 ms);
//   - more requests than the rate budget holds: a bucket of `burst` requests recharging at
//     `rate` per second; an empty bucket answers ErrorServerBusy with the milliseconds until it
//     holds a request again. `rate_per_account` charges the rate to the service account even
//     under impersonation (a tenant-wide budget, the shape delegate access has).
// `latency_ms` keeps each admitted request in flight that long, as a real server's work does.
// A zero limit is no limit. Thread-safety: none; the simulator runs on one thread.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace exsync::sim {

struct BudgetPolicy {
  int max_connections = 0;
  int max_sync = 0;
  int sync_backoff_ms = 5000;
  double rate = 0;   // requests per second
  double burst = 0;  // requests
  bool rate_per_account = false;
  int latency_ms = 0;
};

// Parses "connections=27,sync=5,sync_backoff_ms=5000,rate=150,burst=300,rate_scope=account,
// latency_ms=20"; nullopt (and `problem`) when malformed.
std::optional<BudgetPolicy> parse_budget_policy(const std::string& text, std::string& problem);

struct BudgetRefusal {
  std::string code;  // ErrorExceededConnectionCount, ErrorServerBusy
  std::string text;
  int backoff_ms = 0;  // 0: none suggested
};

// An admitted request; give it back with release() once answered.
struct BudgetTicket {
  std::string key;
  bool sync = false;
};

struct BudgetStats {
  std::map<std::string, int> refused;  // by code
  int max_in_flight = 0;               // requests in flight at once, over all budgets
};

class Budget {
 public:
  using clock = std::chrono::steady_clock;

  void set_policy(const BudgetPolicy& policy);
  const BudgetPolicy& policy() const { return policy_; }

  // Charges a request for `mailbox` (the impersonated one, or the service account without
  // impersonation) from `account`; a refusal, or the ticket.
  std::optional<BudgetRefusal> admit(const std::string& mailbox, const std::string& account, bool is_sync,
                                     BudgetTicket& ticket);
  void release(const BudgetTicket& ticket);

  BudgetStats& stats() { return stats_; }

 private:
  struct State {
    int in_flight = 0;
    int sync_in_flight = 0;
  };
  struct Bucket {
    double tokens = 0;
    clock::time_point at{};
    bool started = false;
  };
  BudgetPolicy policy_;
  std::map<std::string, State> states_;
  std::map<std::string, Bucket> buckets_;
  int in_flight_ = 0;
  BudgetStats stats_;
};

}  // namespace exsync::sim
