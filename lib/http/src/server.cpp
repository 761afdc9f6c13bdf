#include "exsync/http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <functional>
#include <map>
#include <sstream>

#include <boost/asio/local/stream_protocol.hpp>

namespace exsync::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(net::any_io_executor e, ServerOptions o, AnswerHandler h)
      : ex(std::move(e)), opt(std::move(o)), handler(std::move(h)), acceptor(ex) {}

  net::any_io_executor ex;
  ServerOptions opt;
  AnswerHandler handler;
  net::ssl::context ctx{net::ssl::context::tls_server};
  tcp::acceptor acceptor;
  // Every open connection's way to close it, for stop().
  std::map<std::uint64_t, std::function<void()>> sessions;
  std::uint64_t next_session = 0;
  net::local::stream_protocol::acceptor unix_acceptor{ex};
  bool stopped = false;

  Task<void> accept_unix_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await unix_acceptor.async_accept(kTuple);
      if (ec) {
        if (stopped || ec == net::error::operation_aborted) break;
        continue;
      }
      net::co_spawn(ex, unix_session(std::move(socket)), net::detached);
    }
  }

  Task<void> unix_session(net::local::stream_protocol::socket socket) {
    beast::basic_stream<net::local::stream_protocol> stream(std::move(socket));
    co_await converse(stream, stream);
  }

  Task<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(kTuple);
      if (ec) {
        if (stopped || ec == net::error::operation_aborted) break;
        continue;
      }
      // An answer goes out in more than one write (TLS records, a body past Beast's coalescing):
      // with Nagle's algorithm the last one waits for the peer's delayed ACK, 40 ms on Linux.
      socket.set_option(tcp::no_delay(true), ec);
      net::co_spawn(ex, session(std::move(socket)), net::detached);
    }
  }

  Task<void> session(tcp::socket socket) {
    if (opt.certificate_pem.empty()) {
      beast::tcp_stream stream(std::move(socket));
      co_await converse(stream, stream);
    } else {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), ctx);
      auto& tcp_layer = beast::get_lowest_layer(stream);
      if (opt.drop_handshake && opt.drop_handshake()) {
        // The client's ClientHello is read and answered with a TLS alert-free close.
        char hello[512];
        tcp_layer.expires_after(std::chrono::seconds(5));
        (void)co_await tcp_layer.async_read_some(net::buffer(hello), kTuple);
        co_return;
      }
      tcp_layer.expires_after(opt.idle_timeout);
      auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, kTuple);
      if (hec) co_return;
      co_await converse(stream, tcp_layer);
      tcp_layer.expires_after(std::chrono::seconds(2));
      co_await stream.async_shutdown(kTuple);
    }
  }

  // One answer ready to go out: the message, and the disruption asked for it (see ServerOptions).
  struct Outgoing {
    bhttp::response<bhttp::string_body> message;
    std::string disruption;
  };

  Outgoing prepare(Response resp, bool keep_alive) const {
    Outgoing out{bhttp::response<bhttp::string_body>{static_cast<bhttp::status>(resp.status), 11}, {}};
    for (const auto& h : resp.headers) {
      if (!opt.disruption_header.empty() && beast::iequals(h.name, opt.disruption_header))
        out.disruption = h.value;
      else
        out.message.set(h.name, h.value);
    }
    out.message.body() = std::move(resp.body);
    out.message.keep_alive(keep_alive && resp.header("Connection") != "close");
    out.message.prepare_payload();
    return out;
  }

  static Request head_of(const bhttp::request<bhttp::string_body>& msg) {
    Request req;
    req.method = std::string(msg.method_string());
    req.url = std::string(msg.target());
    for (const auto& f : msg) req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    return req;
  }

  // Writes one answer; false when the connection is done with (a write error, a disruption, or
  // an answer that closes it).
  template <typename Stream, typename Lowest>
  Task<bool> write(Stream& stream, Lowest& tcp_layer, const Outgoing& out) {
    tcp_layer.expires_after(opt.idle_timeout);
    if (!out.disruption.empty()) {
      if (out.disruption.rfind("cut:", 0) == 0) {
        std::ostringstream serialized;
        serialized << out.message;
        const auto whole = serialized.str();
        const auto n = std::min<std::size_t>(whole.size(), std::strtoull(out.disruption.c_str() + 4, nullptr, 10));
        (void)co_await net::async_write(stream, net::buffer(whole.data(), n), kTuple);
      }
      boost::system::error_code ignored;
      tcp_layer.socket().shutdown(tcp::socket::shutdown_both, ignored);
      tcp_layer.socket().close(ignored);
      co_return false;
    }
    auto [wec, wn] = co_await bhttp::async_write(stream, out.message, kTuple);
    (void)wn;
    co_return !wec && out.message.keep_alive();
  }

  // Writes a streamed answer (Answer::chunks): the head, the response's body as the first chunk,
  // then every chunk as it is yielded, then the last chunk.
  template <typename Stream, typename Lowest>
  Task<void> write_chunked(Stream& stream, Lowest& tcp_layer, Answer answer) {
    bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(answer.response.status), 11};
    for (const auto& h : answer.response.headers) head.set(h.name, h.value);
    head.chunked(true);
    head.keep_alive(false);
    bhttp::response_serializer<bhttp::empty_body> serializer{head};
    tcp_layer.expires_after(opt.idle_timeout);
    auto [hec, hn] = co_await bhttp::async_write_header(stream, serializer, kTuple);
    (void)hn;
    if (hec) co_return;
    auto send = [&](const std::string& piece) -> Task<bool> {
      if (piece.empty()) co_return true;  // an empty chunk would end the body
      tcp_layer.expires_after(opt.idle_timeout);
      auto [ec, n] = co_await net::async_write(stream, bhttp::make_chunk(net::buffer(piece)), kTuple);
      (void)n;
      co_return !ec;
    };
    if (!co_await send(answer.response.body)) co_return;
    while (!stopped) {
      auto piece = co_await answer.chunks();
      if (!piece || stopped) break;
      if (!co_await send(*piece)) co_return;
    }
    tcp_layer.expires_after(opt.idle_timeout);
    (void)co_await net::async_write(stream, bhttp::make_chunk_last(), kTuple);
  }

  // The answer to a request that could not be read: 413 for a body over the cap, 400 for bytes
  // that are no HTTP request; nothing when the peer just went away.
  std::optional<Response> refusal(const boost::system::error_code& ec) const {
    if (ec == bhttp::error::body_limit)
      return Response{413, {{"Content-Type", "application/json"}, {"Connection", "close"}},
                      R"({"error":"too_large","message":"the request body exceeds the size limit"})"};
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
      return Response{400, {{"Content-Type", "text/plain"}, {"Connection", "close"}}, "bad request\n"};
    return std::nullopt;
  }

  // Reads requests and writes the handler's answers until the peer is done; the same for plain
  // TCP and TLS.
  template <typename Stream, typename Lowest>
  Task<void> converse(Stream& stream, Lowest& tcp_layer) {
    auto self = shared_from_this();
    const auto key = next_session++;
    sessions[key] = [&tcp_layer] {
      boost::system::error_code ignored;
      tcp_layer.socket().close(ignored);
    };
    struct Untrack {
      Impl& impl;
      std::uint64_t key;
      ~Untrack() { impl.sessions.erase(key); }
    } untrack{*this, key};

    beast::flat_buffer buffer;
    std::optional<Outgoing> previous;  // the answer last written, for Answer::late
    std::optional<Outgoing> held;      // once late: the answer to write after the next request
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(opt.max_request_bytes);
      tcp_layer.expires_after(opt.idle_timeout);
      auto [hec, hn] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
      (void)hn;
      if (!hec && opt.early_answer) {
        if (auto early = opt.early_answer(head_of(parser.get()))) {
          // The body stays unread: the next turn of the loop takes it for a request.
          previous = prepare(std::move(*early), true);
          if (!co_await write(stream, tcp_layer, *previous)) break;
          continue;
        }
      }
      boost::system::error_code rec = hec;
      if (!rec) {
        tcp_layer.expires_after(opt.idle_timeout);
        auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
        (void)bn;
        rec = bec;
      }
      if (rec) {
        if (auto refused = refusal(rec)) co_await write(stream, tcp_layer, prepare(std::move(*refused), false));
        break;
      }
      auto msg = parser.release();
      Request req = head_of(msg);
      req.body = std::move(msg.body());

      Answer answer;
      try {
        answer = co_await handler(std::move(req));
      } catch (const std::exception& e) {
        answer.response = Response{500, {{"Content-Type", "text/plain"}}, std::string("internal error: ") + e.what() + "\n"};
      }
      if (stopped) break;

      const bool keep_alive = msg.keep_alive();
      if (answer.chunks) {
        co_await write_chunked(stream, tcp_layer, std::move(answer));
        break;
      }
      auto now = prepare(std::move(answer.response), keep_alive);
      if (held) {
        std::swap(now, *held);
      } else if (answer.late) {
        held = std::move(now);
        now = previous ? std::move(*previous) : *held;
      }
      bool open = co_await write(stream, tcp_layer, now);
      previous = std::move(now);
      for (auto& stale : answer.stale) {
        if (!open) break;
        previous = prepare(std::move(stale), keep_alive);
        open = co_await write(stream, tcp_layer, *previous);
      }
      if (!open) break;
    }
  }
};

namespace {

// `handler` lives in the Server's AnswerHandler, which outlives every call.
Task<Answer> answer_plainly(const Handler& handler, Request req) {
  Answer answer;
  answer.response = co_await handler(std::move(req));
  co_return answer;
}

AnswerHandler answering(Handler handler) {
  return [handler = std::move(handler)](Request req) { return answer_plainly(handler, std::move(req)); };
}

}  // namespace

Server::Server(net::any_io_executor executor, ServerOptions options, Handler handler)
    : Server(std::move(executor), std::move(options), answering(std::move(handler))) {}

Server::Server(net::any_io_executor executor, ServerOptions options, AnswerHandler handler)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), std::move(handler))) {}

Server::~Server() { stop(); }

Result<unsigned short, HttpError> Server::listen(const std::string& address, unsigned short port) {
  boost::system::error_code ec;
  auto& ctx = impl_->ctx;
  if (!impl_->opt.certificate_pem.empty()) {
    ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                    net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain(net::buffer(impl_->opt.certificate_pem), ec);
    if (ec) return Fail{HttpError{HttpErrorKind::config, "server certificate: " + ec.message()}};
    ctx.use_private_key(net::buffer(impl_->opt.private_key_pem), net::ssl::context::pem, ec);
    if (ec) return Fail{HttpError{HttpErrorKind::config, "server private key: " + ec.message()}};
  }

  auto addr = net::ip::make_address(address, ec);
  if (ec) return Fail{HttpError{HttpErrorKind::config, "\"" + address + "\" is not an IP address"}};
  tcp::endpoint ep(addr, port);
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Fail{HttpError{HttpErrorKind::connect, "cannot listen on " + address + ":" + std::to_string(port) + ": " + ec.message()}};
  const auto bound = acc.local_endpoint().port();
  net::co_spawn(impl_->ex, impl_->accept_loop(), net::detached);
  return bound;
}

Result<Unit, HttpError> Server::listen_unix(const std::string& path) {
  boost::system::error_code ec;
  auto& acc = impl_->unix_acceptor;
  net::local::stream_protocol::endpoint ep(path);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Fail{HttpError{HttpErrorKind::connect, "cannot listen on " + path + ": " + ec.message()}};
  net::co_spawn(impl_->ex, impl_->accept_unix_loop(), net::detached);
  return Unit{};
}

void Server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->unix_acceptor.close(ignored);
  auto sessions = impl_->sessions;  // closing may end sessions, which erase themselves
  for (auto& [_, close] : sessions) close();
}

}  // namespace exsync::http
