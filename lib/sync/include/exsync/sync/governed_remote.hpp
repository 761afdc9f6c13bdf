// GovernedRemote: the remote mailbox service as the scheduler wants it used. Every request waits
// while the endpoint is paused or the LoadGovernor's limit of requests is in flight (first come,
// first served), and every answer tells the governor how the server is coping (a success, a
// throttled answer, a lost connection). Decorates any RemoteMailboxService, so the rules hold
// for every protocol.
// Thread-safety: network thread only. Lifetime: `inner` and `governor` outlive it.
#pragma once

#include <memory>
#include <type_traits>

#include "exsync/core/waiter.hpp"
#include "exsync/model/ports.hpp"
#include "exsync/sync/load_governor.hpp"

namespace exsync::sync {

class GovernedRemote final : public model::RemoteMailboxService {
 public:
  GovernedRemote(model::RemoteMailboxService& inner, LoadGovernor& governor, const Clock& clock,
                 Waiter& waiter = AsioWaiter::instance());

  Task<Result<model::ChangePage, model::RemoteError>> changes(const std::string& mailbox, model::FolderKind folder,
                                                              const std::string& cursor, int max_changes) override;
  Task<Result<std::int64_t, model::RemoteError>> count(const std::string& mailbox, model::FolderKind folder) override;
  Task<Result<model::FetchedItems, model::RemoteError>> fetch(const std::string& mailbox,
                                                                         model::FolderKind folder,
                                                                         const std::vector<std::string>& ids) override;
  std::size_t fetch_limit() const override { return inner_.fetch_limit(); }
  model::RemoteCapabilities capabilities() const override { return inner_.capabilities(); }
  std::string id_space() const override { return inner_.id_space(); }
  Task<Result<std::map<std::string, std::string>, model::RemoteError>> translate_ids(
      const std::string& mailbox, const std::string& from, const std::vector<std::string>& ids) override;
  std::size_t create_limit() const override { return inner_.create_limit(); }
  Task<Result<CreateOutcomes, model::RemoteError>> create_many(const std::string& mailbox, model::FolderKind folder,
                                                               const std::vector<NewItem>& items) override;
  Task<Result<model::RemoteRef, model::RemoteError>> create(const std::string& mailbox, model::FolderKind folder,
                                                            const model::ItemPayload& item, const std::string& local_id,
                                                            bool notify) override;
  Task<Result<std::optional<model::RemoteRef>, model::RemoteError>> find_created(const std::string& mailbox,
                                                                                 model::FolderKind folder,
                                                                                 const std::string& local_id) override;
  Task<Result<model::RemoteRef, model::RemoteError>> update(const std::string& mailbox, const model::RemoteRef& ref,
                                                            const model::ItemPayload& before,
                                                            const model::ItemPayload& after, bool overwrite,
                                                            bool notify) override;
  Task<Result<Unit, model::RemoteError>> remove(const std::string& mailbox, model::FolderKind folder, const model::RemoteRef& ref,
                                                bool notify) override;
  Task<Result<Unit, model::RemoteError>> send(const std::string& mailbox, const model::OutgoingMessage& message) override;
  Task<Result<bool, model::RemoteError>> find_sent(const std::string& mailbox, const std::string& local_id) override;

  ~GovernedRemote() override;

 private:
  // Waits until a request may go out; returns its number for the governor.
  Task<std::uint64_t> admitted();
  template <typename Call>
  std::invoke_result_t<Call&> governed(Call call);
  template <typename T>
  void observe(std::uint64_t seq, const Result<T, model::RemoteError>& result);

  struct Gate;
  std::unique_ptr<Gate> gate_;
  model::RemoteMailboxService& inner_;
  LoadGovernor& governor_;
  const Clock& clock_;
  Waiter& waiter_;
};

}  // namespace exsync::sync
