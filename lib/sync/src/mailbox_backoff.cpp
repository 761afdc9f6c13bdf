#include "exsync/sync/mailbox_backoff.hpp"

#include <algorithm>

namespace exsync::sync {

bool MailboxBackoff::due(const std::string& mailbox) const {
  auto it = state_.find(mailbox);
  return it == state_.end() || clock_.now() >= it->second.retry_at;
}

std::chrono::milliseconds MailboxBackoff::failed(const std::string& mailbox, std::chrono::milliseconds server_backoff) {
  auto& s = state_[mailbox];
  ++s.failures;
  std::chrono::milliseconds wait = base_;
  for (int i = 1; i < s.failures && wait < cap_; ++i) wait *= 2;
  wait = std::min<std::chrono::milliseconds>(wait, cap_);
  wait = std::max(wait, server_backoff);
  s.retry_at = clock_.now() + wait;
  return wait;
}

void MailboxBackoff::succeeded(const std::string& mailbox) { state_.erase(mailbox); }

int MailboxBackoff::failures(const std::string& mailbox) const {
  auto it = state_.find(mailbox);
  return it == state_.end() ? 0 : it->second.failures;
}

Clock::time_point MailboxBackoff::retry_at(const std::string& mailbox) const {
  auto it = state_.find(mailbox);
  return it == state_.end() ? Clock::time_point{} : it->second.retry_at;
}

}  // namespace exsync::sync
