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
  Impl(net::any_io_executor e, ServerOptions o, Handler h)
      : ex(std::move(e)), opt(std::move(o)), handler(std::move(h)), acceptor(ex) {}

  net::any_io_executor ex;
  ServerOptions opt;
  Handler handler;
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

  // Reads requests and writes the handler's responses until the peer is done; the same for
  // plain TCP and TLS.
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
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(opt.max_request_bytes);
      tcp_layer.expires_after(opt.idle_timeout);
      auto [rec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      (void)n;
      if (rec) {
        if (rec == bhttp::error::body_limit) {
          bhttp::response<bhttp::string_body> too_big{bhttp::status::payload_too_large, 11};
          too_big.set(bhttp::field::content_type, "application/json");
          too_big.body() = R"({"error":"too_large","message":"the request body exceeds the size limit"})";
          too_big.keep_alive(false);
          too_big.prepare_payload();
          tcp_layer.expires_after(opt.idle_timeout);
          co_await bhttp::async_write(stream, too_big, kTuple);
        }
        break;
      }
      auto msg = parser.release();
      Request req;
      req.method = std::string(msg.method_string());
      req.url = std::string(msg.target());
      for (const auto& f : msg) req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
      req.body = std::move(msg.body());

      Response resp;
      try {
        resp = co_await handler(std::move(req));
      } catch (const std::exception& e) {
        resp = Response{500, {{"Content-Type", "text/plain"}}, std::string("internal error: ") + e.what() + "\n"};
      }
      if (stopped) break;

      std::string disruption;
      bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(resp.status), 11};
      for (const auto& h : resp.headers) {
        if (!opt.disruption_header.empty() && beast::iequals(h.name, opt.disruption_header))
          disruption = h.value;
        else
          out.set(h.name, h.value);
      }
      out.body() = std::move(resp.body);
      out.keep_alive(msg.keep_alive() && resp.header("Connection") != "close");
      out.prepare_payload();
      tcp_layer.expires_after(opt.idle_timeout);
      if (!disruption.empty()) {
        if (disruption.rfind("cut:", 0) == 0) {
          std::ostringstream serialized;
          serialized << out;
          const auto whole = serialized.str();
          const auto n = std::min<std::size_t>(whole.size(), std::strtoull(disruption.c_str() + 4, nullptr, 10));
          (void)co_await net::async_write(stream, net::buffer(whole.data(), n), kTuple);
        }
        boost::system::error_code ignored;
        tcp_layer.socket().shutdown(tcp::socket::shutdown_both, ignored);
        tcp_layer.socket().close(ignored);
        co_return;
      }
      auto [wec, wn] = co_await bhttp::async_write(stream, out, kTuple);
      (void)wn;
      if (wec || !out.keep_alive()) break;
    }
  }
};

Server::Server(net::any_io_executor executor, ServerOptions options, Handler handler)
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
