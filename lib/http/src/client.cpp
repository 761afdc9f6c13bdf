#include "exsync/http/client.hpp"

#include <poll.h>

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "exsync/log/log.hpp"
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

// A random (version 4) GUID in its usual lower-case form, for client-request-id. It tells one
// request's answer from another's, so it needs to be unique, not secret: a generator per thread,
// seeded once from OpenSSL's, instead of OpenSSL's on every request.
std::string new_request_id() {
  thread_local std::mt19937_64 next = [] {
    std::uint32_t seed[8];
    if (RAND_bytes(reinterpret_cast<unsigned char*>(seed), sizeof seed) != 1) {
      std::random_device rd;
      for (auto& w : seed) w = rd();
    }
    std::seed_seq seq(std::begin(seed), std::end(seed));
    return std::mt19937_64(seq);
  }();
  unsigned char b[16];
  const std::uint64_t halves[2] = {next(), next()};
  std::memcpy(b, halves, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

// The request as it goes on the wire: the caller's method, fields and body, with Host, the
// User-Agent and the request's client-request-id.
bhttp::request<bhttp::string_body> wire_request(Request request, const Target& target, const std::string& request_id,
                                                const std::string& user_agent) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(request.method);
  req.target(target.path);
  req.version(11);
  req.set(bhttp::field::host, target.host_header());
  req.set(bhttp::field::user_agent, user_agent);
  req.set("client-request-id", request_id);
  req.set("return-client-request-id", "true");
  // The caller's fields as given: a name given twice is sent twice (list-valued fields).
  for (const auto& h : request.headers) req.insert(h.name, h.value);
  req.body() = std::move(request.body);
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

// An answer that names another request (`echoed`): refused, its connection out of step.
HttpError mismatched(const std::string& where, std::string_view echoed) {
  return HttpError{HttpErrorKind::mismatched, "the answer from " + where +
                                                  " belongs to another request (client-request-id " +
                                                  std::string(echoed) + ")"};
}

}  // namespace

struct Connection {
  Connection(const net::any_io_executor& ex, net::ssl::context& ctx) : stream(ex, ctx) {}
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Nothing waits to be read: not in Beast's buffer, not in OpenSSL (decrypted, or a record read
  // off the socket with the last answer's and not yet taken up: Asio hands OpenSSL what it read
  // through a BIO pair), not on the socket. Anything there now is an answer to no request of ours.
  bool quiet() {
    SSL* ssl = stream.native_handle();
    if (buffer.size() != 0 || SSL_has_pending(ssl) != 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) != 0) return false;
    pollfd p{beast::get_lowest_layer(stream).socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }
};

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  Impl(net::any_io_executor e, ClientOptions o) : ex(std::move(e)), opt(std::move(o)) {}

  net::any_io_executor ex;
  ClientOptions opt;
  net::ssl::context ctx{net::ssl::context::tls_client};
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::set<Connection*> active;
  std::set<tcp::resolver*> resolving;  // name lookups under way, cancelled by shutdown()
  ClientStats stats;
  bool stopped = false;

  // The most recently used idle connection that is still open. An idle connection has nothing
  // to read: one that has (the server's close_notify and FIN, or a stray answer) is closed
  // instead of reused, so that a request that must not be sent twice rarely meets a dead
  // connection and never meets an answer meant for another.
  std::unique_ptr<Connection> take_idle(const std::string& origin) {
    auto it = idle.find(origin);
    while (it != idle.end() && !it->second.empty()) {
      auto conn = std::move(it->second.back());
      it->second.pop_back();
      if (conn->quiet()) return conn;
      ++stats.connections_discarded;
    }
    return nullptr;
  }

  void give_back(const std::string& origin, std::unique_ptr<Connection> conn) {
    if (!conn->quiet()) {  // bytes arrived that no request asked for
      ++stats.connections_discarded;
      return;
    }
    auto& list = idle[origin];
    if (stopped || list.size() >= opt.max_idle_per_origin) return;  // dropping closes it
    list.push_back(std::move(conn));
  }

  // The lease of a connection whose answer the caller still has to accept.
  struct Lease final : ConnectionLease::Holder {
    Lease(std::shared_ptr<Impl> i, std::string o, std::unique_ptr<Connection> c)
        : impl(std::move(i)), origin(std::move(o)), conn(std::move(c)) {}
    void reuse() override { impl->give_back(origin, std::move(conn)); }
    std::shared_ptr<Impl> impl;
    std::string origin;
    std::unique_ptr<Connection> conn;
  };

  bool injected(std::string_view operation) const { return opt.inject_failure && opt.inject_failure(operation); }

  Task<Result<std::unique_ptr<Connection>, HttpError>> connect(const Target& t) {
    if (injected("resolve")) co_return Fail{HttpError{HttpErrorKind::resolve, "cannot resolve " + t.host + ": injected"}};
    // Every step of a new connection can be cut short by shutdown(): the lookup, the TCP
    // connect and the TLS handshake (a server that accepts and never answers holds it).
    struct Track {
      Impl& impl;
      tcp::resolver* resolver = nullptr;
      Connection* conn = nullptr;
      ~Track() {
        if (resolver) impl.resolving.erase(resolver);
        if (conn) impl.active.erase(conn);
      }
    } track{*this};
    tcp::resolver resolver(ex);
    resolving.insert(track.resolver = &resolver);
    auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, kTuple);
    resolving.erase(&resolver);
    track.resolver = nullptr;
    if (stopped) co_return Fail{HttpError{HttpErrorKind::io, "the HTTP client is shut down"}};
    if (rec) co_return Fail{HttpError{HttpErrorKind::resolve, "cannot resolve " + t.host + ": " + rec.message()}};

    auto conn = std::make_unique<Connection>(ex, ctx);
    active.insert(track.conn = conn.get());
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
    if (stopped) co_return Fail{HttpError{HttpErrorKind::io, "the HTTP client is shut down"}};
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
  for (auto* resolver : impl_->resolving) resolver->cancel();
}

ClientStats Client::stats() const { return impl_->stats; }

Task<Result<Response, HttpError>> Client::send(Request request) {
  using namespace net::experimental::awaitable_operators;
  auto self = impl_;  // keeps the pool alive while this request runs
  const std::string request_id = new_request_id();
  auto fail = [&request_id](HttpError e) {
    e.request_id = request_id;
    return Fail{std::move(e)};
  };
  auto target = parse_target(request.url);
  if (!target) co_return fail(target.error());
  if (self->stopped) co_return fail(HttpError{HttpErrorKind::io, "the HTTP client is shut down"});

  const bool request_retry_safe = request.retry_safe;
  auto req = wire_request(std::move(request), *target, request_id, self->opt.user_agent);

  const std::string origin = target->origin();
  bool fresh_only = false;  // after a mismatched answer, no pooled connection is trusted
  for (int attempt = 0;; ++attempt) {
    auto conn = fresh_only ? nullptr : self->take_idle(origin);
    const bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = co_await self->connect(*target);
      if (!fresh) co_return fail(fresh.error());
      conn = std::move(*fresh);
    }
    self->active.insert(conn.get());
    struct Untrack {
      Impl& impl;
      Connection* c;
      ~Untrack() { impl.active.erase(c); }
    } untrack{*self, conn.get()};

    // The request is written while the answer is read, so that an answer which begins before
    // the request is fully written (a server refusing it unread) is seen as such: the server
    // may take the rest of the request for another, and its connection cannot be trusted.
    auto& tcp_layer = beast::get_lowest_layer(conn->stream);
    tcp_layer.expires_after(self->opt.timeout);
    bool written = false;
    bool early = false;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(self->opt.max_response_bytes);
    std::size_t received = 0;
    auto write_request = [&]() -> Task<boost::system::error_code> {
      boost::system::error_code e = net::error::connection_reset;
      if (!self->injected("write")) {
        auto [we, n] = co_await bhttp::async_write(conn->stream, req, kTuple);
        (void)n;
        e = we;
      }
      written = !e;
      // A request that did not go out whole gets no answer worth waiting for: closing (not
      // cancelling) also stops a read that has not begun yet.
      if (e && !parser.is_done()) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(conn->stream).socket().close(ignored);
      }
      co_return e;
    };
    auto read_response = [&]() -> Task<boost::system::error_code> {
      boost::system::error_code e = net::error::connection_reset;
      if (!self->injected("read")) {
        auto [he, hn] = co_await bhttp::async_read_header(conn->stream, conn->buffer, parser, kTuple);
        received += hn;
        e = he;
        if (!e) {
          if (!written) early = true;
          auto [be, bn] = co_await bhttp::async_read(conn->stream, conn->buffer, parser, kTuple);
          received += bn;
          e = be;
        }
      }
      // Answered (or failed) before the request was written whole: the server may never read the
      // rest, so stop writing it (the connection is not used again).
      if (!written) {
        boost::system::error_code ignored;
        beast::get_lowest_layer(conn->stream).socket().close(ignored);
      }
      co_return e;
    };
    auto [wec, rec] = co_await (write_request() && read_response());
    self->stats.bytes_received += received;
    const bool answered = !rec && parser.is_done();
    if (wec && !answered) {
      if (reused && attempt == 0 && received == 0) continue;  // the server closed the idle connection
      co_return fail(classify_stream_error(wec, "send request to " + target->host_header(), HttpErrorKind::io));
    }
    if (rec) {
      // The request went out: sending it again could carry out a write twice.
      if (request_retry_safe && reused && attempt == 0 && received == 0 && rec != beast::error::timeout) continue;
      co_return fail(classify_stream_error(rec, "read response from " + target->host_header(), HttpErrorKind::io));
    }
    ++self->stats.requests;

    auto msg = parser.release();
    Response out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    out.body = std::move(msg.body());
    out.request_id = request_id;

    // An answer that names another request is that request's, delivered on this connection out
    // of step: every later answer on it would be one late too.
    if (const auto echoed = out.header("client-request-id"); !echoed.empty() && echoed != request_id) {
      ++self->stats.mismatched_answers;
      ++self->stats.connections_discarded;
      log::warn("http.answer.mismatched", {{"host", target->host_header()},
                                           {"request_id", request_id},
                                           {"answer_for", echoed},
                                           {"retried", request_retry_safe && attempt == 0}});
      if (request_retry_safe && attempt == 0) {
        fresh_only = true;
        continue;
      }
      co_return fail(mismatched(target->host_header(), echoed));
    }
    if (msg.keep_alive() && !early && !wec && out.status < 400) {
      out.connection = ConnectionLease(std::make_shared<Impl::Lease>(self, origin, std::move(conn)));
    } else {
      ++self->stats.connections_discarded;
    }
    co_return out;
  }
}

Task<Result<Response, HttpError>> Client::stream(Request request, BodySink on_body,
                                                 std::chrono::milliseconds idle_timeout,
                                                 std::shared_ptr<StreamStop> stop) {
  auto self = impl_;
  const std::string request_id = new_request_id();
  auto fail = [&request_id](HttpError e) {
    e.request_id = request_id;
    return Fail{std::move(e)};
  };
  auto target = parse_target(request.url);
  if (!target) co_return fail(target.error());
  if (self->stopped) co_return fail(HttpError{HttpErrorKind::io, "the HTTP client is shut down"});
  if (stop && stop->stopped()) co_return Response{};

  auto req = wire_request(std::move(request), *target, request_id, self->opt.user_agent);

  auto fresh = co_await self->connect(*target);
  if (!fresh) co_return fail(fresh.error());
  auto conn = std::move(*fresh);
  self->active.insert(conn.get());
  struct Untrack {
    Impl& impl;
    Connection* c;
    std::shared_ptr<StreamStop> stop;
    ~Untrack() {
      impl.active.erase(c);
      if (stop) stop->close_ = nullptr;
    }
  } untrack{*self, conn.get(), stop};
  auto& tcp_layer = beast::get_lowest_layer(conn->stream);
  if (stop) {
    stop->close_ = [&tcp_layer] {
      boost::system::error_code ignored;
      tcp_layer.socket().close(ignored);
    };
  }
  auto stopped = [&] { return stop && stop->stopped(); };
  const auto where = target->host_header();

  tcp_layer.expires_after(self->opt.timeout);
  if (self->injected("write")) co_return fail(classify_stream_error(net::error::connection_reset, "send request to " + where, HttpErrorKind::io));
  auto [wec, wn] = co_await bhttp::async_write(conn->stream, req, kTuple);
  (void)wn;
  if (stopped()) co_return Response{};
  if (wec) co_return fail(classify_stream_error(wec, "send request to " + where, HttpErrorKind::io));
  ++self->stats.requests;

  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);  // a stream has no end the client could size
  tcp_layer.expires_after(self->opt.timeout);
  auto [hec, hn] = co_await bhttp::async_read_header(conn->stream, conn->buffer, parser, kTuple);
  self->stats.bytes_received += hn;
  if (stopped()) co_return Response{};
  if (hec) co_return fail(classify_stream_error(hec, "read response from " + where, HttpErrorKind::io));

  Response out;
  out.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  out.request_id = request_id;
  if (const auto echoed = out.header("client-request-id"); !echoed.empty() && echoed != request_id) {
    ++self->stats.mismatched_answers;
    log::warn("http.answer.mismatched",
              {{"host", where}, {"request_id", request_id}, {"answer_for", echoed}, {"retried", false}});
    co_return fail(mismatched(where, echoed));
  }
  const bool streamed = out.status == 200;
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    tcp_layer.expires_after(streamed ? idle_timeout : self->opt.timeout);
    auto [rec, rn] = co_await bhttp::async_read_some(conn->stream, conn->buffer, parser, kTuple);
    self->stats.bytes_received += rn;
    if (stopped()) co_return out;
    if (rec && rec != bhttp::error::need_buffer)
      co_return fail(classify_stream_error(rec, "read the stream from " + where, HttpErrorKind::io));
    const std::string_view got(chunk, sizeof chunk - parser.get().body().size);
    if (got.empty()) continue;
    if (!streamed) {
      if (out.body.size() + got.size() > self->opt.max_response_bytes)
        co_return fail(HttpError{HttpErrorKind::too_large, "the answer from " + where + " exceeds the size cap"});
      out.body.append(got);
    } else if (!on_body(got)) {
      break;
    }
  }
  co_return out;
}

}  // namespace exsync::http
