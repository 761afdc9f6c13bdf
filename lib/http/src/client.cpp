#include "exsync/http/client.hpp"

#include <poll.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <map>
#include <set>

#include "stream_errors.hpp"

namespace exsync::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

struct Target {
  std::string host;  // without IPv6 brackets
  std::string port;
  std::string path;  // path and query
  bool is_ip = false;
  std::string origin() const { return host + "|" + port; }
  std::string host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + host + "]" : host;
    return port == "443" ? h : h + ":" + port;
  }
};

Result<Target, HttpError> parse_target(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Fail{HttpError{HttpErrorKind::bad_url, "\"" + url + "\" is not a URL"}};
  const auto& u = *parsed;
  if (u.scheme() != "https")
    return Fail{HttpError{HttpErrorKind::bad_url, "\"" + url + "\" is not an https:// URL"}};
  Target t;
  t.host = std::string(u.encoded_host());
  if (t.host.size() > 2 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host.empty()) return Fail{HttpError{HttpErrorKind::bad_url, "\"" + url + "\" has no host"}};
  t.port = u.has_port() ? std::string(u.port()) : "443";
  t.path = std::string(u.encoded_path());
  if (t.path.empty()) t.path = "/";
  if (u.has_query()) t.path += "?" + std::string(u.encoded_query());
  boost::system::error_code ec;
  net::ip::make_address(t.host, ec);
  t.is_ip = !ec;
  return t;
}

}  // namespace

struct Connection {
  Connection(const net::any_io_executor& ex, net::ssl::context& ctx) : stream(ex, ctx) {}
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  Impl(net::any_io_executor e, ClientOptions o) : ex(std::move(e)), opt(std::move(o)) {}

  net::any_io_executor ex;
  ClientOptions opt;
  net::ssl::context ctx{net::ssl::context::tls_client};
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::set<Connection*> active;
  ClientStats stats;
  bool stopped = false;

  // The most recently used idle connection that is still open. An idle connection has nothing
  // to read: one that has (the server's close_notify and FIN) is closed instead of reused, so
  // that a request that must not be sent twice rarely meets a dead connection.
  std::unique_ptr<Connection> take_idle(const std::string& origin) {
    auto it = idle.find(origin);
    while (it != idle.end() && !it->second.empty()) {
      auto conn = std::move(it->second.back());
      it->second.pop_back();
      pollfd p{beast::get_lowest_layer(conn->stream).socket().native_handle(), POLLIN, 0};
      if (::poll(&p, 1, 0) == 0 && SSL_pending(conn->stream.native_handle()) == 0) return conn;
    }
    return nullptr;
  }

  void give_back(const std::string& origin, std::unique_ptr<Connection> conn) {
    auto& list = idle[origin];
    if (stopped || list.size() >= opt.max_idle_per_origin) return;  // dropping closes it
    list.push_back(std::move(conn));
  }

  bool injected(std::string_view operation) const { return opt.inject_failure && opt.inject_failure(operation); }

  Task<Result<std::unique_ptr<Connection>, HttpError>> connect(const Target& t) {
    if (injected("resolve")) co_return Fail{HttpError{HttpErrorKind::resolve, "cannot resolve " + t.host + ": injected"}};
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, kTuple);
    if (rec) co_return Fail{HttpError{HttpErrorKind::resolve, "cannot resolve " + t.host + ": " + rec.message()}};

    auto conn = std::make_unique<Connection>(ex, ctx);
    SSL* ssl = conn->stream.native_handle();
    // Verify the peer's name the way browsers do: SAN DNS names for hosts, SAN IPs for addresses.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (t.is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, t.host.c_str());
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, t.host.c_str(), 0);
    }
    conn->stream.set_verify_mode(net::ssl::verify_peer);

    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    if (injected("connect"))
      co_return Fail{classify_stream_error(net::error::connection_refused, "connect to " + t.host_header(), HttpErrorKind::connect)};
    tcp_layer.expires_after(opt.timeout);
    auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, kTuple);
    if (cec) co_return Fail{classify_stream_error(cec, "connect to " + t.host_header(), HttpErrorKind::connect)};
    (void)ep;

    if (injected("handshake"))
      co_return Fail{classify_stream_error(net::error::connection_reset, "TLS handshake with " + t.host_header(), HttpErrorKind::tls)};
    tcp_layer.expires_after(opt.timeout);
    auto [hec] = co_await conn->stream.async_handshake(net::ssl::stream_base::client, kTuple);
    if (hec) {
      std::string what = "TLS handshake with " + t.host_header();
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        co_return Fail{HttpError{HttpErrorKind::tls, what + ": certificate rejected: " +
                                                         X509_verify_cert_error_string(verify)}};
      }
      co_return Fail{classify_stream_error(hec, what, HttpErrorKind::tls)};
    }
    ++stats.connections_opened;
    co_return std::move(conn);
  }
};

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() { shutdown(); }

Result<std::unique_ptr<Client>, HttpError> Client::create(net::any_io_executor executor, ClientOptions options) {
  auto impl = std::make_shared<Impl>(std::move(executor), std::move(options));
  boost::system::error_code ec;
  impl->ctx.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                        net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                        net::ssl::context::no_tlsv1_1);
  if (impl->opt.use_system_trust) {
    impl->ctx.set_default_verify_paths(ec);
    if (ec) return Fail{HttpError{HttpErrorKind::config, "cannot load the system trust store: " + ec.message()}};
  }
  if (!impl->opt.ca_file.empty()) {
    impl->ctx.load_verify_file(impl->opt.ca_file.string(), ec);
    if (ec)
      return Fail{HttpError{HttpErrorKind::config,
                            "cannot load CA file " + impl->opt.ca_file.string() + ": " + ec.message()}};
  }
  impl->ctx.set_verify_mode(net::ssl::verify_peer);
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

void Client::shutdown() {
  impl_->stopped = true;
  impl_->idle.clear();
  for (auto* conn : impl_->active) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(conn->stream).socket().close(ignored);
  }
}

ClientStats Client::stats() const { return impl_->stats; }

Task<Result<Response, HttpError>> Client::send(Request request) {
  auto self = impl_;  // keeps the pool alive while this request runs
  auto target = parse_target(request.url);
  if (!target) co_return Fail{target.error()};
  if (self->stopped) co_return Fail{HttpError{HttpErrorKind::io, "the HTTP client is shut down"}};

  bhttp::request<bhttp::string_body> req;
  req.method_string(request.method);
  req.target(target->path);
  req.version(11);
  req.set(bhttp::field::host, target->host_header());
  req.set(bhttp::field::user_agent, self->opt.user_agent);
  for (const auto& h : request.headers) req.set(h.name, h.value);
  req.body() = std::move(request.body);
  const bool request_retry_safe = request.retry_safe;
  req.keep_alive(true);
  req.prepare_payload();

  const std::string origin = target->origin();
  for (int attempt = 0;; ++attempt) {
    auto conn = self->take_idle(origin);
    const bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = co_await self->connect(*target);
      if (!fresh) co_return Fail{fresh.error()};
      conn = std::move(*fresh);
    }
    self->active.insert(conn.get());
    struct Untrack {
      Impl& impl;
      Connection* c;
      ~Untrack() { impl.active.erase(c); }
    } untrack{*self, conn.get()};

    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    tcp_layer.expires_after(self->opt.timeout);
    boost::system::error_code wec = net::error::connection_reset;
    if (!self->injected("write")) {
      auto [e, written] = co_await bhttp::async_write(conn->stream, req, kTuple);
      (void)written;
      wec = e;
    }
    if (wec) {
      if (reused && attempt == 0) continue;  // the server closed the idle connection
      co_return Fail{classify_stream_error(wec, "send request to " + target->host_header(), HttpErrorKind::io)};
    }

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(self->opt.max_response_bytes);
    tcp_layer.expires_after(self->opt.timeout);
    boost::system::error_code rec = net::error::connection_reset;
    std::size_t received = 0;
    if (!self->injected("read")) {
      auto [e, n] = co_await bhttp::async_read(conn->stream, conn->buffer, parser, kTuple);
      rec = e;
      received = n;
    }
    self->stats.bytes_received += received;
    if (rec) {
      // The request went out: sending it again could carry out a write twice.
      if (request_retry_safe && reused && attempt == 0 && received == 0 && rec != beast::error::timeout) continue;
      co_return Fail{classify_stream_error(rec, "read response from " + target->host_header(), HttpErrorKind::io)};
    }
    ++self->stats.requests;

    auto msg = parser.release();
    Response out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    out.body = std::move(msg.body());
    if (msg.keep_alive()) self->give_back(origin, std::move(conn));
    co_return out;
  }
}

}  // namespace exsync::http
