// Dispatcher: every entry of the changes feed POSTed to the CRM's webhook endpoint, signed as
// Standard Webhooks defines (webhook-id, webhook-timestamp, webhook-signature).
//
// Delivery is at least once, in feed order per mailbox: an entry's cursor moves on (durably, in
// the store) only after the endpoint answered 2xx, so a crash or a lost answer delivers it again,
// with the same webhook-id ("exsync_<source>_<seq>"). Mailboxes are delivered to concurrently, up
// to max_in_flight, each one entry after the other. A failed delivery (no answer, a timeout, a
// status other than 2xx) stops the endpoint for an exponential back-off with jitter, up to
// max_retry; after failing_after failures in a row the endpoint is failing (webhook.endpoint.failing,
// the metrics, /v1/webhooks) until a delivery succeeds again. The feed keeps every entry for its
// retention meanwhile; entries pruned before they were delivered are skipped, and said
// (webhook.feed.gap), the CRM then reads the items again as after a 410 from the feed.
//
// Thread-safety: run() and the other members on the network thread, except status() and
// metrics(), which may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "exsync/core/async.hpp"
#include "exsync/core/clock.hpp"
#include "exsync/http/client.hpp"
#include "exsync/store/crm_store.hpp"

namespace exsync::webhooks {

struct Endpoint {
  std::string name;    // the durable cursor's key
  std::string url;     // https://
  std::string key;     // the secret's key bytes
  std::string source;  // in each webhook-id: which store the entries are of
  std::chrono::seconds timeout{10};
  int failing_after = 5;
  std::chrono::milliseconds first_retry{1000};
  std::chrono::seconds max_retry{600};
  int max_in_flight = 8;
  std::chrono::milliseconds poll{250};  // how often the feed's head is looked at
};

struct EndpointStatus {
  std::string name, url;
  bool failing = false;
  int failures_in_a_row = 0;
  std::string last_error;
  std::string last_success_at, last_failure_at;  // RFC 3339, empty if never
  std::uint64_t delivered = 0;  // entries the endpoint took since start
  std::uint64_t failed = 0;     // attempts that failed since start
  std::int64_t backlog = 0;     // entries waiting, at the last look
};

class Dispatcher {
 public:
  Dispatcher(store::CrmStore& store, net::thread_pool& blocking, http::Client& client, Endpoint endpoint);
  ~Dispatcher();

  // Delivers until stop(); returns once deliveries in flight finished.
  Task<void> run();
  void stop();
  // The feed may hold new entries (a page committed, a replay asked): look now.
  void wake();

  EndpointStatus status() const;
  // Prometheus text: exsync_webhook_deliveries_total{endpoint,result}, exsync_webhook_failing,
  // exsync_webhook_backlog.
  std::string metrics() const;

 private:
  struct Timer;
  Task<void> deliver_mailbox(store::WebhookBacklog backlog);
  Task<bool> deliver(const std::string& mailbox, const store::ChangeRecord& change);
  void failed(const std::string& what);
  void succeeded();

  store::CrmStore& store_;
  net::thread_pool& blocking_;
  http::Client& client_;
  Endpoint endpoint_;
  std::unique_ptr<Timer> timer_;
  bool stopping_ = false;
  int in_flight_ = 0;
  std::set<std::string> busy_;  // mailboxes being delivered
  std::chrono::steady_clock::time_point retry_at_{};
  std::int64_t seen_head_ = -1;
  mutable std::mutex mu_;  // guards status_
  EndpointStatus status_;
  std::uint32_t jitter_state_;
};

}  // namespace exsync::webhooks
