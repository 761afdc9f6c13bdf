#include "exsync/sync/governed_remote.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace exsync::sync {

using model::RemoteError;
using model::RemoteErrorKind;

// Requests waiting for a free slot park on a timer that never expires; each ended request
// cancels one wait, and the woken request looks again.
struct GovernedRemote::Gate {
  explicit Gate(const net::any_io_executor& ex) : timer(ex, net::steady_timer::time_point::max()) {}
  net::steady_timer timer;
  int waiting = 0;
};

GovernedRemote::GovernedRemote(model::RemoteMailboxService& inner, LoadGovernor& governor, const Clock& clock,
                               Waiter& waiter)
    : inner_(inner), governor_(governor), clock_(clock), waiter_(waiter) {}

GovernedRemote::~GovernedRemote() = default;

Task<std::uint64_t> GovernedRemote::admitted() {
  for (;;) {
    if (governor_.paused()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(governor_.paused_until() - clock_.now());
      co_await waiter_.wait(std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(500)));
      continue;
    }
    if (governor_.may_send()) co_return governor_.sent();
    if (!gate_) gate_ = std::make_unique<Gate>(co_await net::this_coro::executor);
    ++gate_->waiting;
    co_await gate_->timer.async_wait(net::as_tuple(net::use_awaitable));
    --gate_->waiting;
  }
}

template <typename T>
void GovernedRemote::observe(std::uint64_t seq, const Result<T, RemoteError>& result) {
  const int limit_before = governor_.limit();
  if (result) {
    governor_.succeeded(seq);
  } else if (const auto& e = result.error(); e.kind == RemoteErrorKind::throttled) {
    governor_.throttled(seq, e.whole_endpoint, e.retry_after);
  } else if (e.kind == RemoteErrorKind::network) {
    governor_.connection_lost(seq);
  } else {
    governor_.answered(seq);
  }
  // One slot freed, and one more for each step the limit grew.
  if (gate_ && gate_->waiting > 0) {
    for (int i = 0; i < 1 + std::max(0, governor_.limit() - limit_before); ++i) gate_->timer.cancel_one();
  }
}

// Each call: wait for the endpoint, ask, and let the governor see the answer.
template <typename Call>
std::invoke_result_t<Call&> GovernedRemote::governed(Call call) {
  const auto seq = co_await admitted();
  auto result = co_await call();
  observe(seq, result);
  co_return result;
}

Task<Result<model::ChangePage, RemoteError>> GovernedRemote::changes(const std::string& mailbox,
                                                                     model::FolderKind folder,
                                                                     const std::string& cursor, int max_changes) {
  co_return co_await governed([&] { return inner_.changes(mailbox, folder, cursor, max_changes); });
}

Task<Result<std::int64_t, RemoteError>> GovernedRemote::count(const std::string& mailbox, model::FolderKind folder) {
  co_return co_await governed([&] { return inner_.count(mailbox, folder); });
}

Task<Result<model::FetchedItems, RemoteError>> GovernedRemote::fetch(const std::string& mailbox,
                                                                                model::FolderKind folder,
                                                                                const std::vector<std::string>& ids) {
  co_return co_await governed([&] { return inner_.fetch(mailbox, folder, ids); });
}

Task<Result<model::RemoteRef, RemoteError>> GovernedRemote::create(const std::string& mailbox, model::FolderKind folder,
                                                                   const model::ItemPayload& item,
                                                                   const std::string& local_id, bool notify) {
  co_return co_await governed([&] { return inner_.create(mailbox, folder, item, local_id, notify); });
}

Task<Result<model::RemoteMailboxService::CreateOutcomes, RemoteError>> GovernedRemote::create_many(
    const std::string& mailbox, model::FolderKind folder, const std::vector<NewItem>& items) {
  co_return co_await governed([&] { return inner_.create_many(mailbox, folder, items); });
}

Task<Result<std::optional<model::RemoteRef>, RemoteError>> GovernedRemote::find_created(const std::string& mailbox,
                                                                                        model::FolderKind folder,
                                                                                        const std::string& local_id) {
  co_return co_await governed([&] { return inner_.find_created(mailbox, folder, local_id); });
}

Task<Result<model::RemoteRef, RemoteError>> GovernedRemote::update(const std::string& mailbox,
                                                                   const model::RemoteRef& ref,
                                                                   const model::ItemPayload& before,
                                                                   const model::ItemPayload& after, bool overwrite,
                                                                   bool notify) {
  co_return co_await governed([&] { return inner_.update(mailbox, ref, before, after, overwrite, notify); });
}

Task<Result<Unit, RemoteError>> GovernedRemote::remove(const std::string& mailbox, model::FolderKind folder, const model::RemoteRef& ref,
                                                       bool notify) {
  co_return co_await governed([&] { return inner_.remove(mailbox, folder, ref, notify); });
}

Task<Result<Unit, RemoteError>> GovernedRemote::send(const std::string& mailbox,
                                                     const model::OutgoingMessage& message) {
  co_return co_await governed([&] { return inner_.send(mailbox, message); });
}

Task<Result<bool, RemoteError>> GovernedRemote::find_sent(const std::string& mailbox, const std::string& local_id) {
  co_return co_await governed([&] { return inner_.find_sent(mailbox, local_id); });
}

Task<Result<std::map<std::string, std::string>, RemoteError>> GovernedRemote::translate_ids(
    const std::string& mailbox, const std::string& from, const std::vector<std::string>& ids) {
  co_return co_await governed([&] { return inner_.translate_ids(mailbox, from, ids); });
}

}  // namespace exsync::sync
