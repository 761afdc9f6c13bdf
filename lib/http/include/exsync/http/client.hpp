// Client: an HTTPS client with a keep-alive connection pool, for the token endpoint and EWS.
//
// TLS always verifies the server's certificate chain (system trust store plus an optional extra
// CA file) and its host name or IP address; nothing switches that off.
//
// Every request carries a fresh `client-request-id` (a GUID) with `return-client-request-id:
// true`, as Microsoft asks EWS and Graph clients to ("Instrumenting client requests for EWS and
// REST in Exchange"), and the configured User-Agent. An answer that echoes another id is not
// this request's: the connection is closed and the send fails with `mismatched` (retried once on
// a fresh connection when the request is `retry_safe`).
//
// A connection is reused only after an exchange that ended cleanly, and only once the caller
// has accepted the answer (Response::connection, a ConnectionLease). It is closed instead when
// the answer has an error status (>= 400), says Connection: close, began before the request was
// fully written, or left bytes unread (in Beast's buffer, in OpenSSL, or on the socket): a server
// that answers one request twice, or a proxy that delivers answers late, would otherwise hand
// each later request the answer to an earlier one, possibly another mailbox's.
//
// A request that cannot be sent on a reused connection is retried once on a fresh one (the
// server may have closed it while idle), and so is one whose answer does not begin there, when
// the request is `retry_safe`.
//
// Thread-safety: use from the one thread that runs `executor`. Many send() calls may be in flight
// at once. Lifetime: shutdown() aborts requests in flight; destroy the client, and every
// response's lease, only after every send() has returned and before the executor's context.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"
#include "exsync/http/error.hpp"
#include "exsync/http/message.hpp"

namespace exsync::http {

struct ClientOptions {
  std::filesystem::path ca_file;  // extra PEM trust anchors; empty for the system store only
  bool use_system_trust = true;
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};  // per network wait
  std::size_t max_response_bytes = 64u << 20;
  std::size_t max_idle_per_origin = 32;
  std::string user_agent = "exsync";
  // Fault injection for tests, in the spirit of Beast's fail_count: asked before each network
  // operation ("resolve", "connect", "handshake", "write", "read"); true makes that operation
  // fail as a reset connection would. Empty in production.
  std::function<bool(std::string_view operation)> inject_failure;
};

// Ends a Client::stream() from elsewhere (the stream's group changed, the daemon stops): its
// connection is closed and stream() returns as if the server had ended the answer.
class StreamStop {
 public:
  void stop() {
    stopped_ = true;
    if (close_) close_();
  }
  bool stopped() const { return stopped_; }

 private:
  friend class Client;
  bool stopped_ = false;
  std::function<void()> close_;
};

// The body of a streamed answer as it arrives, in order; return false to end the stream.
using BodySink = std::function<bool(std::string_view bytes)>;

struct ClientStats {
  std::uint64_t requests = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t bytes_received = 0;
  // Connections closed after an exchange that did not end cleanly (see above), and answers
  // that echoed another request's id.
  std::uint64_t connections_discarded = 0;
  std::uint64_t mismatched_answers = 0;
};

class Client {
 public:
  // Errors: config when the CA file cannot be loaded.
  static Result<std::unique_ptr<Client>, HttpError> create(net::any_io_executor executor, ClientOptions options);
  ~Client();

  // Sends `request` (absolute https URL) and reads the whole response. HTTP error statuses are
  // responses, not errors. The response's lease must be reused() by a caller that has checked
  // the answer, or its connection is closed.
  Task<Result<Response, HttpError>> send(Request request);

  // Sends `request` and reads a long-lived answer as it arrives (EWS streaming notifications):
  // the head is read within the client's timeout, then each piece of the body goes to `on_body`
  // as it comes, each wait for bytes bounded by `idle_timeout` (the server's heartbeats keep it
  // short). Always on a fresh connection, closed afterwards, never pooled. An answer other than
  // 200 is read whole into Response::body instead and is not streamed. The end of the answer,
  // `on_body` returning false and `stop` are a success (the Response's body is empty); a
  // connection lost or silent mid-stream is an error (io or timeout), so is an answer that
  // echoes another request's client-request-id (mismatched).
  Task<Result<Response, HttpError>> stream(Request request, BodySink on_body, std::chrono::milliseconds idle_timeout,
                                           std::shared_ptr<StreamStop> stop = nullptr);

  // Closes idle connections and aborts requests in flight (they fail with io).
  void shutdown();

  ClientStats stats() const;

 private:
  struct Impl;
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace exsync::http
