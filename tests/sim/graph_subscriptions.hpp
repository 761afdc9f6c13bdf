// GraphSubscriptions: the simulator's Microsoft Graph change notifications
// (/graph/v1.0/subscriptions), as Microsoft documents them for Outlook resources:
//   - POST creates a subscription on `users/{user}/contacts` or `users/{user}/events` for an
//     app-only token (Graph sends none for the delegated .Shared permissions), with changeType
//     of created/updated/deleted, an https notificationUrl, a clientState of at most 128
//     characters and an expirationDateTime at most 4,230 minutes ahead; at most
//     `max_per_mailbox` (1,000) live per mailbox. Before it answers, it validates the
//     notificationUrl and the lifecycleNotificationUrl: a POST with ?validationToken= that must
//     be answered 200, text/plain, with the token, within 10 s; else 400.
//   - PATCH renews (expirationDateTime), DELETE removes, GET lists the app's subscriptions in
//     pages of 100 with @odata.nextLink; an unknown or expired one is 404.
//   - Each change in a subscribed folder is POSTed as a notification (the envelope of
//     notification_basic_message_msdocs.json: subscriptionId, clientState, changeType,
//     resource, resourceData, tenantId), batched per tick; a delivery not answered 2xx within
//     3 s is tried again a second later, as Graph retries.
//   - A subscription past its expirationDateTime silently stops (Graph sends nothing).
// A subscription names a public URL; the simulator plays the operator's reverse proxy too and
// delivers every request for such a URL to `deliver_to` (the daemon's listener), keeping its
// query. Faults (control()): lifecycle events (reauthorizationRequired, subscriptionRemoved,
// which also removes, missed, which also drops the changes meanwhile), forgetting every
// subscription without a word, the delivery target, the granted lifetime, a pause.
// Thread-safety: the simulator's one thread.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "exsync/core/async.hpp"
#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

struct SubscriptionPolicy {
  std::string deliver_to;  // http://127.0.0.1:PORT/path: where a notificationUrl's requests land
  std::chrono::seconds max_lifetime{4230 * 60};  // granted at most (Graph may grant less than asked)
  std::chrono::milliseconds tick{20};
  int max_per_mailbox = 1000;
  bool paused = false;  // nothing collected or delivered (changes meanwhile wait, or are dropped by `missed`)
  // A notification for each new subscription sent before its POST is answered, as Graph may.
  bool notify_before_answer = false;
};

struct SubscriptionStats {
  std::uint64_t created = 0, renewed = 0, deleted = 0, expired = 0;
  std::uint64_t validations = 0, validation_failures = 0;
  std::uint64_t notifications = 0, lifecycle = 0;  // delivered (answered 2xx)
  std::uint64_t deliveries = 0, delivery_failures = 0;  // POSTs of batches
  std::uint64_t refused = 0;  // subscription requests answered 4xx
};

class GraphSubscriptions {
 public:
  GraphSubscriptions(Tenant& tenant, std::string base, SubscriptionPolicy policy)
      : tenant_(tenant), base_(std::move(base)), policy_(std::move(policy)) {}

  // /graph/v1.0/subscriptions[/{id}]
  Task<http::Response> handle(http::Request request);
  // Delivers notifications until the simulator stops.
  Task<void> run();
  // /sim/graph/subscriptions[/...]: GET (the subscriptions and counts), PUT {deliver_to,
  // max_lifetime_seconds, paused, tick_ms, notify_before_answer}, POST .../lifecycle {"event", "mailbox"?}, POST .../forget.
  http::Response control(const http::Request& request, const std::vector<std::string>& segments);

 private:
  struct Sub {
    std::string id, resource, mailbox, change_type, notification_url, lifecycle_url, client_state;
    bool events = false;
    std::chrono::system_clock::time_point expires;
    std::uint64_t seen = 0;  // the folder's change sequence number notified up to
  };
  struct Pending {
    std::string body;  // one notification, JSON
    bool lifecycle = false;
  };
  std::optional<http::Response> refuse_token(const http::Request& request);
  boost::json::object to_json(const Sub& s) const;
  Task<bool> validate(const std::string& url);
  void collect(Sub& s);
  void queue_lifecycle(const Sub& s, std::string_view event);

  Tenant& tenant_;
  std::string base_;
  SubscriptionPolicy policy_;
  SubscriptionStats stats_;
  std::map<std::string, Sub> subs_;
  std::deque<Pending> pending_;
  std::uint64_t next_id_ = 1;
};

}  // namespace exsync::sim
