// The CRM's side of webhooks, for the tests: POST /crm/webhook as a CRM built on a Standard
// Webhooks library receives it. Each delivery is checked (its three headers, the signature under
// the receiver's secret, a timestamp within five minutes) and recorded in arrival order, with
// whether its id was seen before, for GET /sim/webhooks. A fault makes it answer an error status
// for a number of deliveries. Written from the specification
// (https://www.standardwebhooks.com), independently of the daemon's sender.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "exsync/http/message.hpp"

namespace exsync::sim {

class WebhookReceiver {
 public:
  WebhookReceiver();
  // The secret to give the daemon: "whsec_" and Base64 of 32 random bytes.
  const std::string& secret() const { return secret_; }

  // POST /crm/webhook. 204 when taken; 400 for a delivery that fails verification (recorded all
  // the same, with verified false); the fault's status while one is set.
  http::Response receive(const http::Request& request);

  // The control API: GET /sim/webhooks (JSON lines: {"webhook_id", "timestamp", "verified",
  // "repeat", "status", "body"}), PUT /sim/webhooks/fault {"status": 503, "count": N},
  // DELETE /sim/webhooks/fault.
  http::Response control(const http::Request& request, const std::vector<std::string>& path);

 private:
  struct Delivery {
    std::string id, timestamp, body;
    bool verified = false, repeat = false;
    int status = 0;  // what the receiver answered
    std::int64_t received_ms = 0;  // when it arrived (Unix milliseconds), for the freshness bench
  };
  std::string secret_, key_;
  std::vector<Delivery> deliveries_;
  std::set<std::string> taken_;  // ids answered 2xx
  int fault_status_ = 0;
  int fault_count_ = 0;  // deliveries left to refuse; -1: until cleared
};

}  // namespace exsync::sim
