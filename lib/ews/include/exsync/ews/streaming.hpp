// StreamingHints: EWS streaming notifications as the engine's ChangeHints.
//
// Every mailbox gets one streaming subscription on the synced folders (Subscribe, addressed as
// its own requests are). Mailboxes are grouped, in address order, up to 200 to a group (the most
// subscriptions Microsoft advises per connection); each group holds one GetStreamingEvents
// connection, sent as the group's first mailbox (its anchor), for up to 30 minutes, then opened
// again. Affinity as Microsoft documents it ("Maintain affinity between a group of subscriptions
// and the Mailbox server"): every Subscribe and GetStreamingEvents of a group carries
// `X-AnchorMailbox: <anchor>` and `X-PreferServerAffinity: true`, and from the anchor's Subscribe
// answer on, the `X-BackEndOverrideCookie` it set, so that the group's subscriptions live on, and
// are read from, one mailbox server. (Autodiscover's GroupingInformation would group mailboxes by
// server beforehand; exsync is given an EWS URL, not Autodiscover, so groups are by address.)
//
// Failures, each logged (docs/LOG_EVENTS.md, `stream.*`):
//   - A Subscribe refused (ErrorExceededSubscriptionCount, access, impersonation) puts that
//     mailbox on polling (`watching(live=false)`) and it tries again after `retry`.
//   - Subscriptions the server lost (ErrorSubscriptionIds: not found, expired) are renewed at
//     once, and their mailboxes told `changed`, since events may have been missed meanwhile.
//   - A connection lost or silent past `idle_timeout` (no heartbeat) is opened again after a
//     short, growing pause; after `failures_before_polling` failures in a row its mailboxes are
//     on polling until it stands again.
//   - ErrorExceededConnectionCount or throttling: the group is on polling for the server's
//     back-off (or `retry`).
//   - Under delegate access every connection counts against the service account's 10 hanging
//     connections (Exchange Online); groups beyond `max_connections` stay on polling
//     ("connection_limit"). Under impersonation each connection is charged to its anchor.
// A 401 drops the token and the request goes again with a fresh one.
//
// Thread-safety: network thread only. Lifetime: `client` and `tokens` outlive it; run() must have
// returned before it is destroyed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>

#include "exsync/auth/token_source.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/http/client.hpp"
#include "exsync/model/change_hints.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::ews {

struct StreamingSettings {
  std::string url;  // the EWS endpoint
  Addressing addressing = Addressing::impersonation;
  std::vector<model::FolderKind> folders{model::FolderKind::contacts};
  int connection_minutes = 30;            // GetStreamingEvents ConnectionTimeout, 1..30
  std::size_t per_connection = 200;       // subscriptions per connection
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};  // no byte, not even a heartbeat
  std::chrono::milliseconds retry{std::chrono::minutes(5)};          // a refused mailbox or group tries again
  int failures_before_polling = 3;
  int max_connections = 0;  // 0: 10 under delegate access, no limit under impersonation
};

struct StreamingStats {
  std::uint64_t subscribed = 0;       // Subscribe requests that succeeded
  std::uint64_t subscribe_failed = 0;
  std::uint64_t connections = 0;      // GetStreamingEvents connections opened
  std::uint64_t notifications = 0;    // mailboxes told `changed`
  std::uint64_t renewed = 0;          // subscriptions the server lost, renewed
  std::uint64_t refused_envelopes = 0;  // envelopes not this connection's (their connection was closed)
};

class StreamingHints final : public model::ChangeHints {
 public:
  StreamingHints(http::Client& client, auth::TokenSource& tokens, StreamingSettings settings);
  ~StreamingHints() override;

  void set_mailboxes(const std::vector<std::string>& mailboxes) override;
  Task<void> run(model::HintListener& listener) override;
  void stop() override;

  const StreamingStats& stats() const { return stats_; }
  // The mailboxes whose notifications flow now.
  std::size_t live() const;

 private:
  struct Group;
  struct Subscription {
    std::string id;
    std::chrono::steady_clock::time_point retry_at{};  // while refused
    bool live = false;
    bool reported = false;  // `live` has been told (a mailbox starts unknown, neither)
    bool missed = false;  // events may have gone unheard (it was on polling, or the server lost it)
  };
  Task<void> run_group(std::shared_ptr<Group> group, model::HintListener& listener);
  Task<bool> subscribe(Group& group, const std::string& mailbox, model::HintListener& listener);
  // One GetStreamingEvents connection of `group`, until it ends; returns the error that ended it, if any.
  Task<std::optional<model::RemoteError>> listen(Group& group, model::HintListener& listener);
  Task<Result<std::string, model::RemoteError>> access_token();
  void set_live(const std::string& mailbox, bool live, std::string_view reason, model::HintListener& listener);

  http::Client& client_;
  auth::TokenSource& tokens_;
  StreamingSettings settings_;
  StreamingStats stats_;
  std::vector<std::string> mailboxes_;
  std::map<std::string, Subscription> subscriptions_;
  std::vector<std::shared_ptr<Group>> groups_;
  struct Wake;
  std::unique_ptr<Wake> wake_;
  bool regroup_ = false;
  bool stopped_ = false;
};

}  // namespace exsync::ews
