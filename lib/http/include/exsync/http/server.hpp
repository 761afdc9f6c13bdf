// Server: a small HTTP/1.1 server with keep-alive, over TLS (the tenant simulator) or plain TCP
// (the CRM's API on loopback).
//
// Each connection is one coroutine: handshake (TLS), then read request, call the handler, write
// the response, until the peer closes or a deadline passes. A request body over the size cap is
// answered 413, a request that does not parse as HTTP 400, and the connection closed.
// Thread-safety: use from the one thread that runs `executor`; the handler runs there too.
// Lifetime: stop() closes the listener and every open connection; the Server must outlive the
// executor's run() or be stopped first.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exsync/core/async.hpp"
#include "exsync/core/result.hpp"
#include "exsync/http/error.hpp"
#include "exsync/http/message.hpp"

namespace exsync::http {

struct ServerOptions {
  std::string certificate_pem;  // the server's chain, leaf first; empty for plain HTTP
  std::string private_key_pem;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::size_t max_request_bytes = 32u << 20;

  // Fault injection, for the tenant simulator; other servers leave these empty.
  // Asked before each TLS handshake: true drops the connection instead of answering it.
  std::function<bool()> drop_handshake;
  // A response carrying this header is disrupted instead of written whole: "close" drops the
  // connection without a byte of answer, "cut:N" writes the first N bytes of the serialized
  // response and then drops it. The header itself never goes out.
  std::string disruption_header;
  // Asked with each request's head (its body still empty) as soon as the head is read: an answer
  // is written at once and the body is left unread, so that its bytes are taken for the next
  // request (which then fails to parse: 400, and the connection closed), as a server that
  // answers early and a client that does not expect it leave the connection.
  std::function<std::optional<Response>(const Request& head)> early_answer;
};

// What a server that misbehaves on purpose (the tenant simulator) writes for one request.
struct Answer {
  Response response;
  // Written on the same connection right after `response`, as further (stale) answers to the
  // same request, the way gromox 3.10 answers some requests twice.
  std::vector<Response> stale;
  // From this request on the connection is one answer late, as behind a proxy that lost HTTP's
  // pairing of requests and answers: this request is answered with the answer last written on
  // the connection (on a fresh connection, with a copy of its own), and every answer is held
  // until the next request on the connection has been read, then written in that one's place.
  bool late = false;
  // A streamed answer (EWS streaming notifications): `response` is its head and first part, then
  // each string this yields goes out as one more chunk of a chunked body, as soon as it is
  // yielded, until it yields nothing; the connection closes after it. The peer's going away is
  // seen at the next chunk written.
  std::function<Task<std::optional<std::string>>()> chunks;
};

// Called for every request; the request's `url` is its target ("/EWS/Exchange.asmx").
using Handler = std::function<Task<Response>(Request)>;
// The same, for a server that answers as `Answer` says.
using AnswerHandler = std::function<Task<Answer>(Request)>;

class Server {
 public:
  Server(net::any_io_executor executor, ServerOptions options, Handler handler);
  Server(net::any_io_executor executor, ServerOptions options, AnswerHandler handler);
  ~Server();

  // Binds and starts accepting. Port 0 picks a free port. Returns the bound port.
  // Errors: config for a bad certificate or key, connect when the address cannot be bound.
  Result<unsigned short, HttpError> listen(const std::string& address, unsigned short port);

  // Also (or instead) accepts plain HTTP on a Unix socket at `path`, which must not exist.
  // Errors: connect when it cannot be bound.
  Result<Unit, HttpError> listen_unix(const std::string& path);

  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace exsync::http
