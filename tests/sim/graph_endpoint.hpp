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
// the mailboxes Tenant::graph_rbac_scope allows, and the error bodies are Graph's. Mail: drafts
// tagged like the daemon's EWS messages, upload sessions, send into Sent Items.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include <vector>

#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

struct GraphStats {
  std::map<std::string, int> operations;  // "delta", "list", "get", "create", "update", "delete"
  int unauthorized = 0;
  int throttled = 0;  // answered 429
  // Requests for a user's items without Prefer: IdType="ImmutableId" (Graph would answer them
  // with ids that change when an item moves).
  int without_immutable_ids = 0;
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
  // Mail (graph_mail.cpp): drafts (POST .../messages, attachments inline up to Graph's 4 MB a
  // request), upload sessions for larger attachments, send (the draft moves to Sent Items),
  // DELETE of a draft, and the tag filter over the whole mailbox.
  http::Response mail(Mailbox& mb, const http::Request& req, const http::RequestTarget& target,
                      const std::vector<std::string>& rest);
  // The calendar (graph_calendar.cpp): calendarView delta, events and their instances, list with
  // the tag's filter, create, PATCH (If-Match) and DELETE. `user_base`: the user's URL, for links.
  http::Response calendar(Mailbox& mb, const http::Request& req, const http::RequestTarget& target,
                          const std::vector<std::string>& rest, const std::string& user_base);
  // PUT of one chunk (Content-Range) to an upload session's URL, which carries its own
  // authorisation: a request with an Authorization header is refused, as Graph does.
  http::Response upload(const http::Request& req, const std::string& session);

  // POST /$batch: up to 20 requests answered as if each came alone (each meets the throttle),
  // their answers in another order than asked, as Graph's may be.
  http::Response batch(const http::Request& req);
  // 429 when Tenant::graph_throttle says so for a request to `mailbox`; nullopt to go on.
  std::optional<http::Response> throttle(const std::string& mailbox);

  struct Upload {
    std::string mailbox, message_id, name;
    std::size_t size = 0, received = 0;
  };
  Tenant& tenant_;
  std::string base_;
  GraphStats stats_;
  std::map<std::string, Upload> uploads_;
  std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> recent_;  // by mailbox
  std::uint64_t next_id_ = 1;  // messages and upload sessions
};

}  // namespace exsync::sim
