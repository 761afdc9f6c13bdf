#include "budget.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace exsync::sim {

std::optional<BudgetPolicy> parse_budget_policy(const std::string& text, std::string& problem) {
  BudgetPolicy p;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == std::string::npos) {
      problem = "\"" + item + "\" is not key=value";
      return std::nullopt;
    }
    const auto key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      if (key == "connections") p.max_connections = std::stoi(value);
      else if (key == "sync") p.max_sync = std::stoi(value);
      else if (key == "sync_backoff_ms") p.sync_backoff_ms = std::stoi(value);
      else if (key == "rate") p.rate = std::stod(value);
      else if (key == "burst") p.burst = std::stod(value);
      else if (key == "latency_ms") p.latency_ms = std::stoi(value);
      else if (key == "rate_scope" && (value == "account" || value == "mailbox")) p.rate_per_account = value == "account";
      else {
        problem = "unknown budget setting \"" + item + "\"";
        return std::nullopt;
      }
    } catch (const std::exception&) {
      problem = "\"" + item + "\" needs a number";
      return std::nullopt;
    }
  }
  if (p.rate > 0 && p.burst < 1) p.burst = 1;
  return p;
}

void Budget::set_policy(const BudgetPolicy& policy) {
  policy_ = policy;
  buckets_.clear();
}

std::optional<BudgetRefusal> Budget::admit(const std::string& mailbox, const std::string& account, bool is_sync,
                                           BudgetTicket& ticket) {
  auto refuse = [&](BudgetRefusal r) {
    ++stats_.refused[r.code];
    return r;
  };
  auto& state = states_[mailbox];
  if (policy_.max_connections > 0 && state.in_flight >= policy_.max_connections)
    return refuse({"ErrorExceededConnectionCount",
                   "You have exceeded the available concurrent connections for your account.  Try again once "
                   "your other requests have completed.",
                   0});
  if (is_sync && policy_.max_sync > 0 && state.sync_in_flight >= policy_.max_sync)
    return refuse({"ErrorServerBusy", "The server cannot service this request right now. Try again later.",
                   policy_.sync_backoff_ms});
  if (policy_.rate > 0) {
    auto& b = buckets_[policy_.rate_per_account ? account : mailbox];
    const auto now = clock::now();
    if (!b.started) b = {policy_.burst, now, true};
    b.tokens = std::min(policy_.burst, b.tokens + policy_.rate * std::chrono::duration<double>(now - b.at).count());
    b.at = now;
    if (b.tokens < 1) {
      const int wait = static_cast<int>(std::ceil((1 - b.tokens) / policy_.rate * 1000));
      return refuse({"ErrorServerBusy", "The server cannot service this request right now. Try again later.",
                     std::max(1, wait)});
    }
    b.tokens -= 1;
  }
  ++state.in_flight;
  if (is_sync) ++state.sync_in_flight;
  stats_.max_in_flight = std::max(stats_.max_in_flight, ++in_flight_);
  ticket = {mailbox, is_sync};
  return std::nullopt;
}

void Budget::release(const BudgetTicket& ticket) {
  if (ticket.key.empty()) return;
  auto& state = states_[ticket.key];
  --state.in_flight;
  if (ticket.sync) --state.sync_in_flight;
  --in_flight_;
}

}  // namespace exsync::sim
