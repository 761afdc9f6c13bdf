// ControlEndpoint: the simulator's test-control API under /sim/ (JSON), through which tests and
// the demo change the tenant while it runs: mailboxes, contacts, sync-state invalidation,
// impersonation rights, the service account's password and injected token failures; and read
// request statistics. Not part of any Microsoft API; loopback only.
//
//   GET    /sim/mailboxes                                 JSON array of addresses
//   POST   /sim/mailboxes                {"address", "contacts"?}
//   DELETE /sim/mailboxes/{addr}
//   GET    /sim/mailboxes/{addr}/contacts                 JSON lines (contact JSON with ews_id)
//   POST   /sim/mailboxes/{addr}/contacts   contact JSON -> {"ews_id","change_key"}
//   PUT    /sim/mailboxes/{addr}/contacts/{id} contact JSON (replaces the contact)
//   PATCH  /sim/mailboxes/{addr}/contacts/{id} some contact fields, merged (null removes one)
//   DELETE /sim/mailboxes/{addr}/contacts/{id}
//   GET    /sim/mailboxes/{addr}/events                   JSON lines (event JSON with ews_id)
//   PUT    /sim/mailboxes/{addr}/events/{id} {"subject", "location"} (an edit in Outlook)
//   DELETE /sim/mailboxes/{addr}/events/{id}
//   GET    /sim/mailboxes/{addr}/sent                     JSON lines: the mailbox's Sent Items
//   POST   /sim/mailboxes/{addr}/invalidate-sync-states
//   PUT|DELETE /sim/mailboxes/{addr}/poison/{id} {"code"}  GetItem answers the item with that error
//   PUT    /sim/impersonation            {"allowed": bool}
//   PUT|DELETE /sim/impersonation/denied/{addr}
//   PUT    /sim/password                 {"password"}   (revokes every token)
//   PUT|DELETE /sim/faults/token         {"aadsts", "count"?}
//   PUT|DELETE /sim/faults/ews           {"kind": server_busy|http503|http429, "backoff_ms", "count", "mailbox"?}
//   PUT    /sim/streaming {"heartbeat_ms", "minute_ms", "lifetime_ms", "tick_ms", "max_per_mailbox",
//                          "connections_per_account"}   streaming notifications' timing and limits
//   POST   /sim/streaming/expire   every subscription forgotten;  POST /sim/streaming/drop   connections cut
//   GET    /sim/stats,  POST /sim/stats/reset
// Ids in paths are percent-encoded.
#pragma once

#include "entra_endpoint.hpp"
#include "ews_endpoint.hpp"
#include "graph_endpoint.hpp"

namespace exsync::sim {

class ControlEndpoint {
 public:
  ControlEndpoint(Tenant& tenant, EwsEndpoint& ews, EntraEndpoint& entra) : tenant_(tenant), ews_(ews), entra_(entra) {}
  http::Response handle(const http::Request& request);
  // The Graph endpoint, once it exists (its links need the port): its counts join /sim/stats.
  void attach(GraphEndpoint& graph) { graph_ = &graph; }

 private:
  Tenant& tenant_;
  EwsEndpoint& ews_;
  EntraEndpoint& entra_;
  GraphEndpoint* graph_ = nullptr;
};

}  // namespace exsync::sim
