// How the remote mailbox service reports failure to the sync engine, whatever its protocol.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace exsync::model {

enum class RemoteErrorKind {
  network,             // refused, reset or timed-out connections: try again later (and ease off:
                       // lost connections are how an overloaded server shows)
  unreachable,         // the server's name does not resolve
  tls,                 // the TLS handshake failed: an untrusted or wrong certificate, a protocol
                       // the two sides do not share (no overload: a setup problem)
  too_large,           // the answer was over [ews] max_response_mb and was not read
  setup,               // the client could not be set up for the request (CA file, URL)
  auth,                // no access token could be obtained (see the auth module's log line)
  unauthorized,        // the server refused the token (HTTP 401) even after a fresh one
  throttled,           // the server asks us to back off for `retry_after`
  invalid_sync_state,  // the cursor is no longer valid: resync from scratch
  mailbox_not_found,   // the mailbox does not exist (wrong address, removed)
  impersonation_denied,  // the service account may not act for this mailbox
  access_denied,       // the mailbox exists but this folder or item may not be read
  conflict,            // the item changed since the change key we hold (ErrorIrresolvableConflict)
  item_not_found,      // the item no longer exists
  invalid_item,        // the server refused a value we sent (invalid property): fix the data
  server,              // the server failed (HTTP 5xx, internal error)
  protocol,            // an answer we could not understand
  // An answer that is not this request's: another operation's, the wrong number of response
  // messages, items that were not asked for, another request's client-request-id. The server
  // or something on the path is out of step; whether the request was carried out is unknown.
  mismatched_answer,
  // The server will not hand over one item (corrupt, unconvertible): the item's trouble, not
  // the mailbox's. A sync quarantines it; a write that needs to read it is refused.
  item_refused,
};

struct RemoteError {
  RemoteErrorKind kind;
  std::string message;  // the server's own words where it gave some; never a secret
  std::string code;     // the protocol's error code when it has one ("ErrorServerBusy")
  std::chrono::milliseconds retry_after{0};
  // The back-off is for every request to the endpoint (HTTP 503/429 with Retry-After), not only
  // for this mailbox's (EWS ErrorServerBusy charges the impersonated mailbox's budget).
  bool whole_endpoint = false;
  // The server answered this very request with an error of its own (an EWS ResponseCode or a
  // SOAP fault): the request was refused, not lost. False when the outcome is unknown (a lost
  // connection, a timeout, a proxy's error page, an answer that is not this request's).
  bool answered = false;
  // The request's client-request-id, for the log line an operator quotes to Microsoft support.
  std::string request_id = {};
};

// "network", "mailbox_not_found", ...: stable names for logs.
std::string_view remote_error_kind_name(RemoteErrorKind kind);

// Whether an error within the answer to a batch of items (a CreateItem of several, a $batch) is
// about the caller or the mailbox rather than its one item: throttling, credentials, access,
// impersonation, a mailbox that does not exist. Such an error is the whole batch's.
bool concerns_whole_batch(RemoteErrorKind kind);

}  // namespace exsync::model
