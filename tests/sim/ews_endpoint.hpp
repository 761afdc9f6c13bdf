// EwsEndpoint: the simulator's Exchange Web Services endpoint (POST /EWS/Exchange.asmx).
//
// Answers the operations exsync and exchangelib use on contacts, the calendar and Sent Items
// the way Exchange Online does: same envelope, namespaces, ResponseClass/ResponseCode messages,
// HTTP 500 SOAP faults for impersonation and schema errors, and HTTP 401 with Exchange Online's
// Bearer challenge for a missing or expired token. Requests are validated against the EWS schema
// when one is loaded. This file is the gate (authentication, schema, addressing, faults, budget);
// ews_operations.cpp holds one handler per operation, ews_soap.cpp the envelope.
#pragma once

#include <map>
#include <pugixml.hpp>
#include <optional>
#include <string>

#include "exsync/http/message.hpp"
#include "exsync/http/server.hpp"
#include "budget.hpp"
#include "ews_streaming.hpp"
#include "schema_validator.hpp"
#include "tenant.hpp"

namespace exsync::sim {

struct EwsStats {
  std::map<std::string, int> operations;  // by operation name
  int unauthorized = 0;
  int invitations_sent = 0;
  int throttled = 0;  // requests answered with throttling: an injected fault or the budget
  int refused_sends = 0;  // messages refused (send_refused_saved) yet saved to Sent Items, never delivered
  std::map<std::string, int> faults;  // injected faults, by kind
  int impersonated = 0;  // requests that reached a mailbox by ExchangeImpersonation
  int delegated = 0;     // ... as a delegate (no impersonation header, the mailbox named)
  std::uint64_t requests = 0;
  std::uint64_t bytes_sent = 0;  // response bodies, as a client receives them
  int schema_violations = 0;
  std::string last_schema_violation;
};

class EwsEndpoint {
 public:
  EwsEndpoint(Tenant& tenant, SchemaValidator* validator) : tenant_(tenant), validator_(validator), streaming_(tenant) {}
  // Answers one request. An admitted request holds `ticket` until the caller releases it with
  // budget().release() (after the simulated latency). An injected fault may add stale answers or
  // make the connection late (http::Answer).
  http::Answer handle(const http::Request& request, BudgetTicket& ticket);
  // The answer to a request's head alone (ServerOptions::early_answer): an early_answer fault's
  // HTTP 500, or nullopt to read the body and answer as usual. The fault meets only requests of
  // every mailbox and operation, since both are named in the body.
  std::optional<http::Response> early_answer(const http::Request& head);
  // The response header asking the HTTP server to disrupt the connection (ServerOptions), and
  // the one asking the simulator to answer late.
  static constexpr const char* kDisruptHeader = "X-Exsync-Sim-Disrupt";
  static constexpr const char* kDelayHeader = "X-Exsync-Sim-Delay-Ms";
  EwsStats& stats() { return stats_; }
  Budget& budget() { return budget_; }
  EwsStreaming& streaming() { return streaming_; }

 private:
  http::Response answer(const http::Request& request, BudgetTicket& ticket);
  http::Response unauthorized(bool bearer);
  std::optional<http::Response> inject_fault(const std::string& target, const std::string& name,
                                             const pugi::xml_node& op, bool bearer);

  std::optional<Tenant::EwsFault> mangle_;  // a fault applied to the answer once it is made
  bool refused_send_ = false;  // send_refused_saved met a message and refused it
  Tenant& tenant_;
  SchemaValidator* validator_;
  EwsStats stats_;
  Budget budget_;
  EwsStreaming streaming_;
  // The chunks of the GetStreamingEvents answer() just made, for handle() to stream.
  std::function<Task<std::optional<std::string>>()> pending_chunks_;
};

}  // namespace exsync::sim
