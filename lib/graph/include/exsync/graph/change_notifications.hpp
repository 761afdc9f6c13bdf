// ChangeNotifications: Microsoft Graph change notifications as the engine's ChangeHints, for a
// tenant whose operator gives exsync a public HTTPS URL (`[graph] notification_url`) that
// forwards to the daemon's own listener.
//
// Each mailbox folder gets one subscription (`users/{mailbox}/contacts`, `users/{mailbox}/events`;
// changeType created,updated,deleted), with the URL as its notificationUrl and its
// lifecycleNotificationUrl. Graph validates the URL before it answers the subscription: it POSTs
// `?validationToken=...` there, and receive() echoes the token as text/plain at once.
//
// A notification is a hint, never data: it makes its mailbox due (HintListener::changed) and the
// sync reads what changed through delta, as without notifications. Every notification must
// prove it belongs to a subscription of this daemon: its subscriptionId one it holds, and its
// clientState the one that subscription was given, compared in constant time. A clientState is
// HMAC-SHA256(key, resource), so it is secret, differs per mailbox folder (a notification for one
// mailbox can never pass as another's) and stays the same across restarts, which lets a restarted
// daemon adopt the subscriptions it finds (GET /subscriptions) instead of piling up new ones
// (Graph keeps at most 1,000 per mailbox, for all applications together).
//
// Subscriptions live at most 4,230 minutes (Outlook resources); each is renewed (PATCH
// expirationDateTime) at two thirds of the lifetime Graph granted it. Lifecycle notifications:
//   - reauthorizationRequired: renewed at once;
//   - subscriptionRemoved: subscribed again, and the mailbox synced (changes may have gone
//     unheard meanwhile);
//   - missed: the mailbox synced.
// A subscription refused (the URL failed validation, access denied, throttled) or lost (404 on
// renewal, expired) puts its mailbox on polling (`watching(live=false)`, with Graph's error
// code) until it stands again; a refused one is tried again after `retry` (or Graph's
// Retry-After). Each step is logged (docs/LOG_EVENTS.md, `graph.subscription.*`,
// `graph.notification.*`, `graph.mailbox.*`).
//
// Subscriptions are not deleted at shutdown: the next start adopts them. Those of mailboxes no
// longer configured, or of a resource this daemon does not watch, are deleted when found.
//
// Thread-safety: network thread only (receive() included). Lifetime: `client` and `tokens`
// outlive it; run() must have returned before it is destroyed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "exsync/auth/token_source.hpp"
#include "exsync/http/client.hpp"
#include "exsync/model/change_hints.hpp"
#include "exsync/model/folder.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::graph {

struct NotificationSettings {
  std::string graph_url = "https://graph.microsoft.com/v1.0";  // the Graph root
  std::string notification_url;  // the public https:// URL Graph POSTs to
  std::string key;               // the secret clientStates are derived from
  std::vector<model::FolderKind> folders{model::FolderKind::contacts};
  std::chrono::minutes lifetime{4230};  // asked for each subscription, at most 4,230 minutes
  std::chrono::milliseconds retry{std::chrono::minutes(5)};  // a refused subscription tries again
  int max_in_flight = 4;  // subscription requests at once
};

struct NotificationStats {
  std::uint64_t created = 0;   // subscriptions Graph accepted
  std::uint64_t adopted = 0;   // found at start (GET /subscriptions) and kept
  std::uint64_t renewed = 0;
  std::uint64_t failed = 0;    // subscribe or renew requests refused or lost
  std::uint64_t deleted = 0;   // stale subscriptions removed
  std::uint64_t lost = 0;      // removed by Graph, expired or unknown on renewal
  std::uint64_t validations = 0;  // validation handshakes answered
  std::uint64_t notifications = 0;  // change notifications accepted
  std::uint64_t lifecycle = 0;      // lifecycle notifications accepted
  std::uint64_t refused = 0;        // notifications refused (unknown subscription, wrong clientState)
};

class ChangeNotifications final : public model::ChangeHints {
 public:
  ChangeNotifications(http::Client& client, auth::TokenSource& tokens, NotificationSettings settings);
  ~ChangeNotifications() override;

  void set_mailboxes(const std::vector<std::string>& mailboxes) override;
  Task<void> run(model::HintListener& listener) override;
  void stop() override;

  // One request Graph sent to the notification URL, answered at once (Graph wants 2xx within 3 s
  // and the validation within 10 s): a validation handshake (200, the token as text/plain), a
  // batch of change or lifecycle notifications (202; those that fail the checks are refused one
  // by one and logged), or 400 for a body that is no notification batch.
  http::Response receive(const http::Request& request);

  // `exsyncd verify`'s check: a subscription to the mailbox's contacts, deleted again at once.
  // It succeeds only if Graph's validation request went through the public URL to a running
  // daemon and back. Touches none of the subscriptions run() keeps.
  Task<Result<Unit, model::RemoteError>> probe(const std::string& mailbox);

  // The clientState of the subscription on `resource` (users/{mailbox}/contacts).
  std::string client_state(const std::string& resource) const;
  // The subscription's resource for a mailbox folder, as sent: "users/{mailbox}/contacts".
  static std::string resource_of(const std::string& mailbox, model::FolderKind folder);

  const NotificationStats& stats() const { return stats_; }
  // The mailboxes whose every folder's subscription stands now.
  std::size_t live() const;

  static constexpr std::chrono::minutes kMaxLifetime{4230};

 private:
  struct Watch;
  struct Wake;
  Task<void> adopt();
  Task<void> step(std::string resource);
  Task<void> work(std::string resource);
  Task<void> unsubscribe(std::string id);
  struct Granted {
    std::string id;
    std::chrono::system_clock::time_point expires;
  };
  // POST /subscriptions for `resource`, its answer checked; changes nothing here.
  Task<Result<Granted, model::RemoteError>> subscribe(std::string resource, std::string client_state);
  Task<Result<std::chrono::system_clock::time_point, model::RemoteError>> renew(const std::string& id,
                                                                                const std::string& resource);
  Task<Result<http::Response, model::RemoteError>> send(std::string method, std::string url, std::string body,
                                                        std::string_view operation);
  void lifecycle(Watch& w, std::string_view event);
  void report(const std::string& mailbox);
  void poke();
  Watch* watch_by_id(const std::string& id);

  http::Client& client_;
  auth::TokenSource& tokens_;
  NotificationSettings settings_;
  NotificationStats stats_;
  model::HintListener* listener_ = nullptr;
  std::map<std::string, Watch> watches_;                  // by resource
  std::map<std::string, std::string> ids_;                // subscription id -> resource
  std::map<std::string, std::string> states_;             // MAC of a clientState -> resource
  std::map<std::string, bool> reported_;                  // mailbox -> live, as last told
  std::set<std::string> missed_;                          // mailboxes whose hints went unheard
  // Work by when it is due: (due, resource); an entry whose watch is gone or due at another
  // time is stale and skipped.
  std::set<std::pair<std::chrono::steady_clock::time_point, std::string>> queue_;
  std::vector<std::string> to_delete_;  // subscription ids of mailboxes no longer configured
  std::unique_ptr<Wake> wake_;  // while run() runs
  int in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace exsync::graph
