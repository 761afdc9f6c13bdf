// GraphEndpoint: the simulator's Microsoft Graph (v1.0) over the same tenant state as its EWS
// endpoint, so that one simulated tenant is reachable both ways, as a real one is. Served under
// /graph/v1.0.
//
// Contacts of the default folder (well-known name `contacts`): delta query with nextLink and
// deltaLink (tokens that expire when the mailbox's sync states are invalidated: 410
// SyncStateNotFound), list with $count and with $filter on the tag's extended property, get,
// create (POST, with singleValueExtendedProperties), translateExchangeIds (EWS ids to these), PATCH (If-Match: 412
// ErrorIrresolvableConflict) and DELETE. Item ids are immutable-id shaped and differ from the
// EWS ids of the same items, as they do on Exchange Online (graph_id()/ews_id()); change keys
// are the same. Tokens must be Graph's (aud https://graph.microsoft.com); app-only tokens reach
// the mailboxes Tenant::graph_rbac_scope allows, and the error bodies are Graph's.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

struct GraphStats {
  std::map<std::string, int> operations;  // "delta", "list", "get", "create", "update", "delete"
  int unauthorized = 0;
  std::uint64_t requests = 0;
};

// The Graph (immutable) id of an item with EWS id `ews_id`, and back; nullopt for an id that is
// not one of the simulator's.
std::string graph_id(const std::string& ews_id);
std::optional<std::string> ews_id(const std::string& graph_id);

class GraphEndpoint {
 public:
  static constexpr std::string_view kRoot = "/graph/v1.0";
  // `base`: the simulator's https://host:port, for the links it hands out.
  GraphEndpoint(Tenant& tenant, std::string base) : tenant_(tenant), base_(std::move(base)) {}
  http::Response handle(const http::Request& request);
  GraphStats& stats() { return stats_; }

 private:
  Tenant& tenant_;
  std::string base_;
  GraphStats stats_;
};

}  // namespace exsync::sim
