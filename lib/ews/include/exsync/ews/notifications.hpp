// EWS streaming notifications: the requests, the answers, and the splitting of a streamed answer
// into its envelopes.
//
// A streaming subscription (Subscribe with StreamingSubscriptionRequest) watches one mailbox's
// folders; a GetStreamingEvents connection carries up to 200 subscriptions and stays open for
// up to 30 minutes, the server writing one SOAP envelope per batch of events, a heartbeat
// (ConnectionStatus OK) now and then, and ConnectionStatus Closed at its end.
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
// A notification is a hint that a folder changed, never data: SyncFolderItems stays the source
// of truth, so the events' ids and times are not read.
//
// As every EWS parser here, each one checks that the answer is its request's: a Subscribe
// answer is a SubscribeResponse with one message; a streamed envelope is a
// GetStreamingEventsResponse whose every subscription id (notified or failed) is one the
// connection asked for. Anything else is `mismatched_answer`: a stray envelope must never make
// another mailbox's folder due, nor cost a mailbox its subscription.
// Thread-safety: free functions; an EnvelopeSplitter belongs to one stream.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::ews {

// Exchange's limits, from Microsoft's documentation of streaming notifications and throttling.
inline constexpr int kMaxConnectionMinutes = 30;           // GetStreamingEvents ConnectionTimeout
inline constexpr std::size_t kMaxSubscriptionsPerConnection = 200;
inline constexpr int kHangingConnectionLimit = 10;         // per account, Exchange Online

// Subscribe for created, modified, deleted, moved and copied items in `folders` of the target's
// mailbox (one mailbox per request, as Exchange requires).
std::string subscribe_request(const Target& target, const std::vector<model::FolderKind>& folders);

// GetStreamingEvents for `subscription_ids`, kept open `minutes` (1..30), sent as `anchor` (the
// group's first mailbox, whose budget the connection is charged to under impersonation).
std::string get_streaming_events_request(const Target& anchor, const std::vector<std::string>& subscription_ids,
                                         int minutes);

// A Subscribe answer: the new subscription's id. Errors as the server states them
// (ErrorExceededSubscriptionCount, ErrorImpersonateUserDenied, ...).
Result<std::string, model::RemoteError> parse_subscribe(std::string_view xml);

// One envelope of a GetStreamingEvents answer.
struct StreamingEnvelope {
  std::vector<std::string> notified;  // subscriptions with events, each once, in order
  std::vector<std::string> lost;      // subscriptions the server no longer has (ErrorSubscriptionIds)
  // The server's refusal, when the message is an error: of the subscriptions in `lost`, or of the
  // whole connection when `lost` is empty (ErrorExceededConnectionCount, ErrorServerBusy, ...).
  std::optional<model::RemoteError> error;
  bool closed = false;  // ConnectionStatus Closed: the connection's time is up
};
Result<StreamingEnvelope, model::RemoteError> parse_streaming_envelope(std::string_view xml,
                                                                       const std::set<std::string>& asked);

// Splits a streamed answer, as its bytes arrive, into whole SOAP envelopes (each its own XML
// document, with or without an XML declaration).
class EnvelopeSplitter {
 public:
  explicit EnvelopeSplitter(std::size_t max_buffered = 8u << 20) : max_(max_buffered) {}
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole envelope, if one has arrived.
  std::optional<std::string> next();
  // More than max_buffered bytes without an envelope's end: not a stream of envelopes.
  bool overflowed() const { return buffer_.size() > max_; }

 private:
  std::string buffer_;
  std::size_t scanned_ = 0;
  std::size_t max_;
};

}  // namespace exsync::ews
