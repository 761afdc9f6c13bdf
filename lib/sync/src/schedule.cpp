#include "exsync/sync/schedule.hpp"

#include <algorithm>

namespace exsync::sync {

std::string_view mailbox_state_name(MailboxState state) {
  switch (state) {
    case MailboxState::due: return "due";
    case MailboxState::syncing: return "syncing";
    case MailboxState::waiting: return "waiting";
    case MailboxState::backing_off: return "backing_off";
  }
  return "?";
}

Schedule::Schedule(const Clock& clock, ScheduleSettings settings)
    : clock_(clock),
      settings_(settings),
      backoff_(clock, settings.interval, std::max(settings.interval, settings.backoff_cap)),
      rng_(settings.seed) {
  settings_.jitter = std::clamp(settings_.jitter, 0.0, 0.5);
}

Schedule::Change Schedule::set_mailboxes(const std::vector<std::string>& mailboxes) {
  Change change;
  std::unordered_map<std::string, std::size_t> wanted;
  for (std::size_t i = 0; i < mailboxes.size(); ++i) wanted.emplace(mailboxes[i], i);
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& [mailbox, e] = *it;
    if (wanted.contains(mailbox) || e.removed) {
      ++it;
      continue;
    }
    change.removed.push_back(mailbox);
    if (e.syncing) {  // dropped when it finishes
      e.removed = true;
      ++it;
      continue;
    }
    dequeue(e);
    round_pending_.erase(mailbox);
    if (e.pushed) --pushed_count_;
    it = entries_.erase(it);
  }
  const auto now = clock_.now();
  for (std::size_t i = 0; i < mailboxes.size(); ++i) {
    auto [it, inserted] = entries_.try_emplace(mailboxes[i]);
    it->second.order = i;
    if (it->second.removed) {  // removed and added back while in flight
      it->second.removed = false;
      continue;
    }
    if (!inserted) continue;
    change.added.push_back(mailboxes[i]);
    enqueue(it->first, it->second, now);
    if (round_.number > 0) {
      round_pending_.insert(mailboxes[i]);
      ++round_.mailboxes;
    }
  }
  if (round_.number == 0) start_round();
  std::sort(change.removed.begin(), change.removed.end());
  return change;
}

void Schedule::enqueue(const std::string& mailbox, Entry& e, Clock::time_point due) {
  e.key = Key{due, next_seq_++};
  e.queued_urgent = e.prioritized;
  (e.queued_urgent ? urgent_ : regular_).emplace(e.key, mailbox);
}

void Schedule::dequeue(Entry& e) {
  auto& queue = e.queued_urgent ? urgent_ : regular_;
  for (auto it = queue.lower_bound({e.key, std::string()}); it != queue.end() && it->first == e.key;) {
    it = queue.erase(it);
  }
}

std::optional<std::string> Schedule::take_next() {
  const auto now = clock_.now();
  for (auto* queue : {&urgent_, &regular_}) {
    if (queue->empty() || queue->begin()->first.due > now) continue;
    auto mailbox = queue->begin()->second;
    queue->erase(queue->begin());
    auto& e = entries_.at(mailbox);
    e.syncing = true;
    e.prioritized = false;
    e.last_started = now;
    ++in_flight_;
    return mailbox;
  }
  return std::nullopt;
}

void Schedule::start_round() {
  round_ = Round{round_.number + 1, 0, 0, {}};
  round_started_ = clock_.now();
  round_pending_.clear();
  for (const auto& [mailbox, e] : entries_) {
    if (!e.removed && backoff_.failures(mailbox) == 0) round_pending_.insert(mailbox);
  }
  round_.mailboxes = round_pending_.size();
}

std::optional<Schedule::Round> Schedule::end_round_if_complete() {
  if (!round_pending_.empty() || round_.mailboxes == 0) return std::nullopt;
  auto done = round_;
  done.duration = clock_.now() - round_started_;
  start_round();
  return done;
}

Schedule::Finished Schedule::finished(const std::string& mailbox, const SyncOutcome& outcome) {
  auto it = entries_.find(mailbox);
  if (it == entries_.end() || !it->second.syncing) return {};
  auto& e = it->second;
  e.syncing = false;
  --in_flight_;
  // A throttled mailbox has not had its turn yet: the round waits for it.
  if (!outcome.throttled && e.last_started >= round_started_ && round_pending_.erase(mailbox) > 0 && !outcome.ok)
    ++round_.failed;
  if (e.removed) {
    if (e.pushed) --pushed_count_;
    entries_.erase(it);
    round_pending_.erase(mailbox);
    return {{}, end_round_if_complete()};
  }
  const auto now = clock_.now();
  std::chrono::milliseconds wait;
  Clock::time_point due;
  e.throttled = false;
  if (!outcome.ok && outcome.throttled) {
    e.last_error = outcome.error;
    e.throttled = true;
    wait = outcome.server_backoff;
    due = now + wait;
  } else if (outcome.ok) {
    backoff_.succeeded(mailbox);
    e.last_success = now;
    e.last_error.clear();
    if (settings_.active_interval.count() > 0) {
      e.adaptive = outcome.changed ? settings_.active_interval
                                   : std::min(settings_.interval, std::max(settings_.active_interval, e.adaptive * 2));
    }
    std::uniform_real_distribution<double> share(-settings_.jitter, settings_.jitter);
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(interval_of(e)) * (1.0 + share(rng_)));
    due = e.prioritized ? now : std::max(now, e.last_started + interval);
    wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now);
  } else {
    e.last_error = outcome.error;
    wait = backoff_.failed(mailbox, outcome.server_backoff);
    due = now + wait;
  }
  enqueue(mailbox, e, due);
  return {wait, end_round_if_complete()};
}

void Schedule::set_interval(std::chrono::seconds interval) {
  settings_.interval = interval;
  backoff_.set_limits(interval, std::max(interval, settings_.backoff_cap));
}

void Schedule::prioritize(const std::string& mailbox) {
  auto it = entries_.find(mailbox);
  if (it == entries_.end() || it->second.removed) return;
  auto& e = it->second;
  if (e.prioritized && (e.syncing || e.queued_urgent)) return;  // already first in line
  e.prioritized = true;
  if (e.syncing) return;  // finished() queues it again at once
  dequeue(e);
  // A back-off stands (rule 2); anything else is due now.
  const auto now = clock_.now();
  enqueue(mailbox, e, backoff_.failures(mailbox) > 0 || e.throttled ? std::max(now, e.key.due) : now);
}

std::chrono::seconds Schedule::interval_of(const Entry& e) const {
  if (e.pushed) return std::max(settings_.interval, settings_.pushed_interval);
  if (settings_.active_interval.count() > 0 && e.adaptive.count() > 0) return std::min(settings_.interval, e.adaptive);
  return settings_.interval;
}

void Schedule::set_pushed(const std::string& mailbox, bool pushed) {
  auto it = entries_.find(mailbox);
  if (it == entries_.end() || it->second.removed || it->second.pushed == pushed) return;
  auto& e = it->second;
  e.pushed = pushed;
  pushed ? ++pushed_count_ : --pushed_count_;
  if (e.syncing || e.prioritized || backoff_.failures(mailbox) > 0 || e.throttled) return;
  if (pushed && e.last_success == Clock::time_point{}) return;  // its first sync is not put off
  // Due one of its new intervals after its last sync: later once pushed, sooner once polled.
  const auto due =
      std::max(clock_.now(), e.last_started + std::chrono::duration_cast<Clock::duration>(interval_of(e)));
  if (pushed ? due > e.key.due : due < e.key.due) {
    dequeue(e);
    enqueue(mailbox, e, due);
  }
}

std::optional<Clock::time_point> Schedule::next_due() const {
  std::optional<Clock::time_point> due;
  for (const auto* queue : {&urgent_, &regular_}) {
    if (queue->empty()) continue;
    const auto t = queue->begin()->first.due;
    if (!due || t < *due) due = t;
  }
  return due;
}

MailboxStatus Schedule::status_of(const std::string& mailbox, const Entry& e) const {
  MailboxStatus s;
  s.mailbox = mailbox;
  s.prioritized = e.prioritized;
  s.failures = backoff_.failures(mailbox);
  // Shown to people: on the wall clock (the schedule itself runs on a monotonic one).
  auto shown = [&](Clock::time_point t) { return t == Clock::time_point{} ? t : clock_.wall(t); };
  s.next_sync = shown(e.key.due);
  s.last_started = shown(e.last_started);
  s.last_success = shown(e.last_success);
  s.last_error = e.last_error;
  s.state = state_of(e, s.failures, clock_.now());
  s.pushed = e.pushed;
  s.interval = interval_of(e);
  return s;
}

MailboxState Schedule::state_of(const Entry& e, int failures, Clock::time_point now) const {
  if (e.syncing) return MailboxState::syncing;
  if (e.key.due <= now) return MailboxState::due;
  return failures > 0 || e.throttled ? MailboxState::backing_off : MailboxState::waiting;
}

Schedule::Census Schedule::census() const {
  Census c;
  const auto now = clock_.now();
  for (const auto& [mailbox, e] : entries_) {
    const int failures = backoff_.failures(mailbox);
    switch (state_of(e, failures, now)) {
      case MailboxState::due: ++c.due; break;
      case MailboxState::syncing: ++c.syncing; break;
      case MailboxState::waiting: ++c.waiting; break;
      case MailboxState::backing_off: ++c.backing_off; break;
    }
    c.synced += e.last_success != Clock::time_point{} ? 1 : 0;
    c.failing += failures > 0 ? 1 : 0;
    c.with_error += e.last_error.empty() ? 0 : 1;
  }
  return c;
}

std::optional<MailboxStatus> Schedule::status(const std::string& mailbox) const {
  auto it = entries_.find(mailbox);
  if (it == entries_.end()) return std::nullopt;
  return status_of(it->first, it->second);
}

std::vector<MailboxStatus> Schedule::statuses() const {
  std::vector<std::pair<std::size_t, const std::pair<const std::string, Entry>*>> order;
  order.reserve(entries_.size());
  for (const auto& entry : entries_) order.emplace_back(entry.second.order, &entry);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<MailboxStatus> out;
  out.reserve(order.size());
  for (const auto& [_, entry] : order) out.push_back(status_of(entry->first, entry->second));
  return out;
}

}  // namespace exsync::sync
