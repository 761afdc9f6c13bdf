// ApiService: the CRM's local HTTP API over the store (README, "The CRM's API").
//
// Every request must carry `Authorization: Bearer <token>`; the token is compared in constant
// time and never logged. Responses are JSON; errors are {"error": code, "message": text} with
// 400 (malformed), 401 (no or bad token), 404 (unknown mailbox, item or route), 405 (method),
// 413 (body too large), 422 (a field Exchange would refuse). A write is stored with its outbox
// entry in one transaction before the answer; bad input never reaches the store.
// Reads run on the blocking pool, never on the network thread.
//
// Thread-safety: handle() runs on the network thread. Lifetime: the store and the pool must
// outlive the service.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "exsync/core/async.hpp"
#include "exsync/http/message.hpp"
#include "exsync/model/ports.hpp"
#include "exsync/store/crm_store.hpp"
#include "exsync/webhooks/dispatcher.hpp"
#include "exsync/sync/schedule.hpp"

namespace exsync::api {

// This API's OpenAPI 3.1 document (docs/openapi.yaml) as JSON, served at GET /v1/openapi.json.
extern const std::string_view kOpenApiJson;

struct ApiSettings {
  std::string token;
  std::vector<std::string> mailboxes;  // the configured mailboxes, normalised
  std::string version;
  // Called on the network thread after a write is stored, so that the daemon pushes it promptly.
  std::function<void(const std::string& mailbox)> on_write;
  // Where the mailbox stands in the daemon's schedule (state, back-off, next sync); none when
  // the daemon does not schedule it.
  std::function<std::optional<sync::MailboxStatus>(const std::string& mailbox)> schedule_status;
  // The daemon's own metrics in Prometheus text format, for GET /metrics; the API adds the
  // store's backlog.
  std::function<std::string()> metrics;
  // What the tenant's backend can carry: a write it cannot is refused with 422 not_supported
  // before anything is stored.
  model::RemoteCapabilities capabilities;
  // The webhook endpoint's state (GET /v1/webhooks); none when [webhooks] is not configured.
  std::function<std::optional<webhooks::EndpointStatus>()> webhook_status;
  // Called after a replay moved the endpoint's cursors back, so that deliveries start at once.
  std::function<void()> on_webhook_replay;
  // How a mailbox whose changes are pushed is shown (`sync.changes`): "streaming" (EWS streaming
  // notifications) or "notifications" (Graph change notifications); the others show "polling".
  std::string pushed_mode = "streaming";
};

class ApiService {
 public:
  ApiService(store::CrmStore& store, net::thread_pool& blocking, ApiSettings settings);

  Task<http::Response> handle(http::Request request);
  // The configured mailboxes changed (SIGHUP); normalised. Network thread only.
  void set_mailboxes(std::vector<std::string> mailboxes) { settings_.mailboxes = std::move(mailboxes); }

  static constexpr int kDefaultPageSize = 100;
  static constexpr int kMaxPageSize = 1000;

 private:
  Task<http::Response> route(const http::Request& request, const http::RequestTarget& target);

  store::CrmStore& store_;
  net::thread_pool& blocking_;
  ApiSettings settings_;
};

}  // namespace exsync::api
