// EwsService: the remote mailbox port over Exchange Web Services.
//
// Each call is one SOAP request to the configured endpoint, authorised with the service
// account's token (or Basic credentials) and addressed to the target mailbox by impersonation or
// as a delegate (see Addressing), plus the X-AnchorMailbox header (which routes the request to
// the mailbox's server in Exchange Online).
// A 401 makes it drop the token and retry once with a fresh one. Every answer is checked against
// its request before anything of it is returned (see responses.hpp); every error carries the
// request's client-request-id.
//
// Thread-safety: use from the network thread only. Lifetime: `client` and `tokens` must
// outlive it.
#pragma once

#include <cstdint>
#include <set>

#include "exsync/auth/token_source.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/http/client.hpp"
#include "exsync/model/ports.hpp"

namespace exsync::ews {

struct EwsSettings {
  std::string url;              // https://outlook.office365.com/EWS/Exchange.asmx
  int get_item_batch_size = 128;  // ids per GetItem request
  Addressing addressing = Addressing::impersonation;
};

struct EwsStats {
  std::uint64_t sync_requests = 0;
  std::uint64_t get_item_requests = 0;
  // Answers refused as not their request's (or not EWS at all); their connections were closed.
  std::uint64_t refused_answers = 0;
};

class EwsService final : public model::RemoteMailboxService {
 public:
  // With `parser`, GetItem answers (the bulk of an initial sync) are parsed on that pool, so that
  // the network thread goes on with other mailboxes meanwhile.
  EwsService(http::Client& client, auth::TokenSource& tokens, EwsSettings settings,
             net::thread_pool* parser = nullptr);

  Task<Result<model::ChangePage, model::RemoteError>> changes(const std::string& mailbox, model::FolderKind folder,
                                                              const std::string& cursor, int max_changes) override;
  Task<Result<std::int64_t, model::RemoteError>> count(const std::string& mailbox, model::FolderKind folder) override;
  Task<Result<model::FetchedItems, model::RemoteError>> fetch(
      const std::string& mailbox, model::FolderKind folder, const std::vector<std::string>& ids) override;
  // One GetItem request's ids: the get_item_batch_size setting.
  std::size_t fetch_limit() const override;
  std::string id_space() const override { return "ews"; }
  // EWS has no operation that takes another protocol's ids: a store of Graph ids cannot go back
  // to EWS (README, "Choosing EWS or Graph").
  Task<Result<std::map<std::string, std::string>, model::RemoteError>> translate_ids(
      const std::string& mailbox, const std::string& from, const std::vector<std::string>& ids) override;

  // Contacts go up to kCreateBatch to a CreateItem.
  static constexpr std::size_t kCreateBatch = 100;
  std::size_t create_limit() const override { return kCreateBatch; }
  Task<Result<CreateOutcomes, model::RemoteError>> create_many(const std::string& mailbox, model::FolderKind folder,
                                                               const std::vector<NewItem>& items) override;
  Task<Result<model::RemoteRef, model::RemoteError>> create(const std::string& mailbox, model::FolderKind folder,
                                                            const model::ItemPayload& item,
                                                            const std::string& local_id, bool notify) override;
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

  const EwsStats& stats() const { return stats_; }

 private:
  // Each modified occurrence's own fields, from its own item.
  Task<Result<Unit, model::RemoteError>> read_occurrences(const std::string& mailbox,
                                                          std::vector<model::RemoteItem>& items);

  // update() of an event or a series: its own fields, then its occurrences one by one.
  Task<Result<model::RemoteRef, model::RemoteError>> update_event(const std::string& mailbox, const model::RemoteRef& ref,
                                                                  const model::Event& before, const model::Event& after,
                                                                  bool overwrite, bool notify);
  Task<Result<model::RemoteRef, model::RemoteError>> series_ref(const std::string& mailbox, const std::string& id);

  Target target(const std::string& mailbox) const { return Target(mailbox, settings_.addressing); }
  // POSTs `envelope` and returns a 200 answer (its connection still leased), or the error any
  // other answer means.
  Task<Result<http::Response, model::RemoteError>> call(const std::string& mailbox, std::string_view operation,
                                                        const std::string& envelope);
  // call(), then `parse` (a coroutine taking the body): the connection is reused only when the
  // answer proved to be this request's; a mismatched or unreadable answer closes it, is logged
  // (ews.answer.refused) and, for a read, asked once more.
  template <typename T, typename Parse>
  Task<Result<T, model::RemoteError>> exchange(const std::string& mailbox, std::string_view operation,
                                               std::string envelope, Parse parse);

  // ews.property.absent, once per mailbox and folder (see the .cpp).
  void note_absent_properties(const std::string& mailbox, model::FolderKind folder,
                              const std::vector<model::RemoteItem>& items);

  http::Client& client_;
  auth::TokenSource& tokens_;
  EwsSettings settings_;
  net::thread_pool* parser_;
  EwsStats stats_;
  std::set<std::string> absent_noted_;
};

}  // namespace exsync::ews
