// EwsStreaming: the simulator's streaming notifications (Subscribe, GetStreamingEvents), with
// Exchange's limits and timing as Microsoft documents them:
//   - a Subscribe names one mailbox's folders; at most `max_per_mailbox` (EWSMaxSubscriptions,
//     20) subscriptions live per mailbox, beyond that ErrorExceededSubscriptionCount;
//   - a subscription no connection reads for `lifetime` expires; a connection then names it in
//     ErrorSubscriptionIds with ErrorSubscriptionNotFound;
//   - GetStreamingEvents stays open ConnectionTimeout minutes (scaled by `minute`, so that tests
//     need not wait 30), writes a ConnectionStatus OK heartbeat every `heartbeat`, an envelope of
//     notifications for each change in a subscribed mailbox, and ConnectionStatus Closed at its end;
//   - at most `connections_per_account` connections hang at once per anchor (under
//     impersonation) or for the service account (as a delegate): ErrorExceededConnectionCount;
//   - a Subscribe with X-PreferServerAffinity is answered with an X-BackEndOverrideCookie, and
//     requests are counted with and without their group's affinity.
// Faults: expire() forgets every subscription, drop() ends every open connection without its
// Closed envelope, as a load balancer cutting it would.
// Thread-safety: the simulator's one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <pugixml.hpp>

#include "exsync/core/async.hpp"
#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

struct StreamingPolicy {
  std::chrono::milliseconds heartbeat{std::chrono::seconds(30)};
  std::chrono::milliseconds minute{std::chrono::minutes(1)};  // how long a ConnectionTimeout minute lasts
  std::chrono::milliseconds lifetime{std::chrono::minutes(30)};
  std::chrono::milliseconds tick{std::chrono::milliseconds(20)};  // how often a connection looks for changes
  int max_per_mailbox = 20;
  int connections_per_account = 10;
};

struct StreamingStats {
  std::uint64_t subscribes = 0, connections = 0, notifications = 0, heartbeats = 0;
  std::uint64_t open_connections = 0;
  std::uint64_t refused_connections = 0;   // ErrorExceededConnectionCount
  std::uint64_t refused_subscriptions = 0; // ErrorExceededSubscriptionCount
  std::uint64_t expired = 0;               // subscriptions reported lost
  std::uint64_t without_affinity = 0;      // requests lacking X-AnchorMailbox or X-PreferServerAffinity
};

class EwsStreaming {
 public:
  explicit EwsStreaming(Tenant& tenant) : tenant_(tenant) {}

  // Subscribe for `mb` (already authenticated and addressed); `request` for its headers.
  http::Response subscribe(const http::Request& request, const pugi::xml_node& op, Mailbox& mb);
  // GetStreamingEvents: the head (status, headers, first envelope) and the chunks that follow.
  struct Stream {
    http::Response head;
    std::function<Task<std::optional<std::string>>()> chunks;  // empty: an answer like any other
  };
  Stream get_streaming_events(const http::Request& request, const pugi::xml_node& op, const std::string& charged_to);

  void expire();
  void drop();
  StreamingPolicy& policy() { return policy_; }
  const StreamingStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; stats_.open_connections = open_; }
  std::size_t subscriptions() const { return subs_.size(); }

 private:
  struct Sub {
    std::string mailbox;
    bool contacts = false, calendar = false;
    std::uint64_t contacts_seq = 0, calendar_seq = 0, epoch = 0;
    std::chrono::steady_clock::time_point last_read;
    int readers = 0;
  };
  struct Connection;
  void release(Connection& conn);
  bool expired(const Sub& s, std::chrono::steady_clock::time_point now) const;
  void note_affinity(const http::Request& request);

  Tenant& tenant_;
  StreamingPolicy policy_;
  StreamingStats stats_;
  std::map<std::string, Sub> subs_;
  std::map<std::string, int> hanging_;  // open connections by who they are charged to
  std::uint64_t next_id_ = 1;
  std::uint64_t drops_ = 0;  // drop() generation
  std::uint64_t open_ = 0;
};

}  // namespace exsync::sim
