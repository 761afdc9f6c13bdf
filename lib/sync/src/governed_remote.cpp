#include "exsync/sync/governed_remote.hpp"

namespace exsync::sync {

using model::RemoteError;
using model::RemoteErrorKind;

Task<void> GovernedRemote::admitted() {
  while (governor_.paused()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(governor_.paused_until() - clock_.now());
    co_await waiter_.wait(std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(500)));
  }
}

template <typename T>
void GovernedRemote::observe(const Result<T, RemoteError>& result) {
  if (result) {
    governor_.succeeded();
    return;
  }
  const auto& e = result.error();
  if (e.kind == RemoteErrorKind::throttled)
    governor_.throttled(e.whole_endpoint, e.retry_after);
  else if (e.kind == RemoteErrorKind::network)
    governor_.connection_lost();
}

// Each call: wait for the endpoint, ask, and let the governor see the answer.
template <typename Call>
std::invoke_result_t<Call&> GovernedRemote::governed(Call call) {
  co_await admitted();
  auto result = co_await call();
  observe(result);
  co_return result;
}

Task<Result<model::ChangePage, RemoteError>> GovernedRemote::changes(const std::string& mailbox,
                                                                     model::FolderKind folder,
                                                                     const std::string& cursor, int max_changes) {
  co_return co_await governed([&] { return inner_.changes(mailbox, folder, cursor, max_changes); });
}

Task<Result<std::vector<model::RemoteItem>, RemoteError>> GovernedRemote::fetch(const std::string& mailbox,
                                                                                model::FolderKind folder,
                                                                                const std::vector<std::string>& ids) {
  co_return co_await governed([&] { return inner_.fetch(mailbox, folder, ids); });
}

Task<Result<model::RemoteRef, RemoteError>> GovernedRemote::create(const std::string& mailbox, model::FolderKind folder,
                                                                   const model::ItemPayload& item,
                                                                   const std::string& local_id, bool notify) {
  co_return co_await governed([&] { return inner_.create(mailbox, folder, item, local_id, notify); });
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

Task<Result<Unit, RemoteError>> GovernedRemote::remove(const std::string& mailbox, const model::RemoteRef& ref,
                                                       bool notify) {
  co_return co_await governed([&] { return inner_.remove(mailbox, ref, notify); });
}

Task<Result<Unit, RemoteError>> GovernedRemote::send(const std::string& mailbox,
                                                     const model::OutgoingMessage& message) {
  co_return co_await governed([&] { return inner_.send(mailbox, message); });
}

Task<Result<bool, RemoteError>> GovernedRemote::find_sent(const std::string& mailbox, const std::string& local_id) {
  co_return co_await governed([&] { return inner_.find_sent(mailbox, local_id); });
}

}  // namespace exsync::sync
