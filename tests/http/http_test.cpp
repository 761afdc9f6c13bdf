#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

#include "exsync/crypto/certificates.hpp"
#include "exsync/http/client.hpp"
#include "exsync/http/server.hpp"
#include "test_support.hpp"

namespace exsync::http {
namespace {

using namespace std::chrono_literals;

// A real HTTPS server on 127.0.0.1:0 and a real client, both on one io_context.
class HttpTest : public ::testing::Test {
 protected:
  void start(crypto::ServerIdentity identity, Handler handler, ServerOptions base = {}) {
    auto pki = crypto::generate_local_pki("test CA", identity);
    ASSERT_TRUE(pki) << pki.error().message;
    test::write_file(dir_ / "ca.pem", pki->ca.certificate);
    base.certificate_pem = pki->server.certificate;
    base.private_key_pem = pki->server.private_key;
    server_ = std::make_unique<Server>(io_.get_executor(), base, std::move(handler));
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    url_ = "https://127.0.0.1:" + std::to_string(*port) + "/echo";
  }
  void start(Handler handler) { start(crypto::ServerIdentity{}, std::move(handler)); }
  void start_answering(AnswerHandler handler) {
    auto pki = crypto::generate_local_pki("test CA", {});
    ASSERT_TRUE(pki) << pki.error().message;
    test::write_file(dir_ / "ca.pem", pki->ca.certificate);
    ServerOptions o;
    o.certificate_pem = pki->server.certificate;
    o.private_key_pem = pki->server.private_key;
    server_ = std::make_unique<Server>(io_.get_executor(), o, std::move(handler));
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    url_ = "https://127.0.0.1:" + std::to_string(*port) + "/stream";
  }

  std::unique_ptr<Client> client(ClientOptions o = {}) {
    if (o.ca_file.empty()) o.ca_file = dir_ / "ca.pem";
    o.use_system_trust = false;
    auto c = Client::create(io_.get_executor(), o);
    EXPECT_TRUE(c);
    return std::move(*c);
  }

  // Sends and, like a caller that checked the answer, gives its connection back to the pool.
  Result<Response, HttpError> send(Client& c, std::string body = "hello") {
    auto r = test::run(io_, c.send(Request{"POST", url_, {{"Content-Type", "text/plain"}}, std::move(body)}));
    if (r) r->connection.reuse();
    return r;
  }

  static Handler echo() {
    return [](Request r) -> Task<Response> { co_return Response{200, {{"X-Target", r.url}}, r.body}; };
  }

  boost::asio::io_context io_;
  test::TempDir dir_;
  std::unique_ptr<Server> server_;
  std::string url_;
};

TEST_F(HttpTest, RequestsReuseOneKeptAliveConnection) {
  start(echo());
  auto c = client();
  for (int i = 0; i < 3; ++i) {
    auto r = send(*c, "body " + std::to_string(i));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "body " + std::to_string(i));
    EXPECT_EQ(r->header("x-target"), "/echo");
  }
  EXPECT_EQ(c->stats().connections_opened, 1u);
  EXPECT_EQ(c->stats().requests, 3u);
}

TEST_F(HttpTest, AnAnswerTheCallerDidNotAcceptClosesItsConnection) {
  start(echo());
  auto c = client();
  {
    auto r = test::run(io_, c->send(Request{"POST", url_, {}, "unchecked"}));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->connection.held());
  }  // dropped without reuse(): the caller found the answer wanting
  ASSERT_TRUE(send(*c));
  EXPECT_EQ(c->stats().connections_opened, 2u);
}

TEST_F(HttpTest, AConnectionTheServerClosedWhileIdleIsReplaced) {
  ServerOptions o;
  o.idle_timeout = 100ms;
  start(crypto::ServerIdentity{}, echo(), o);
  auto c = client();
  ASSERT_TRUE(send(*c));
  boost::asio::steady_timer t(io_, 400ms);
  t.wait();
  io_.restart();
  io_.poll();  // let the server close its side
  auto r = send(*c);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(c->stats().connections_opened, 2u);
}

TEST_F(HttpTest, ACertificateFromAnUnknownCaIsRefused) {
  start(echo());
  ClientOptions o;
  o.ca_file = dir_ / "other-ca.pem";
  auto other = crypto::generate_local_pki("another CA", {});
  test::write_file(o.ca_file, other->ca.certificate);
  auto c = client(o);
  auto r = send(*c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::tls);
  EXPECT_NE(r.error().message.find("certificate rejected"), std::string::npos) << r.error().message;
}

TEST_F(HttpTest, ACertificateForAnotherHostIsRefused) {
  crypto::ServerIdentity id;
  id.dns_names = {"exchange.contoso.com"};
  id.ip_addresses = {};
  start(id, echo());
  auto c = client();
  auto r = send(*c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::tls);
  EXPECT_NE(r.error().message.find("mismatch"), std::string::npos) << r.error().message;
}

TEST_F(HttpTest, AnExpiredCertificateIsRefused) {
  crypto::ServerIdentity id;
  id.not_before = -std::chrono::hours(48);
  id.not_after = -std::chrono::hours(24);
  start(id, echo());
  auto c = client();
  auto r = send(*c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::tls);
  EXPECT_NE(r.error().message.find("expired"), std::string::npos) << r.error().message;
}

TEST_F(HttpTest, ASlowServerHitsTheDeadline) {
  start([](Request) -> Task<Response> {
    boost::asio::steady_timer t(co_await net::this_coro::executor, 3s);
    co_await t.async_wait(net::use_awaitable);
    co_return Response{200, {}, "late"};
  });
  ClientOptions o;
  o.timeout = 200ms;
  auto c = client(o);
  const auto started = std::chrono::steady_clock::now();
  auto r = send(*c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  server_->stop();
}

TEST_F(HttpTest, AResponseAboveTheCapIsRefused) {
  start([](Request) -> Task<Response> { co_return Response{200, {}, std::string(2u << 20, 'x')}; });
  ClientOptions o;
  o.max_response_bytes = 1u << 20;
  auto c = client(o);
  auto r = send(*c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::too_large);
}

TEST_F(HttpTest, ARefusedConnectionIsAConnectError) {
  start(echo());
  server_->stop();
  auto c = client();
  auto r = send(*c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::connect) << r.error().message;
}

TEST_F(HttpTest, OnlyHttpsUrlsAreAccepted) {
  start(echo());
  auto c = client();
  auto r = test::run(io_, c->send(Request{"GET", "http://127.0.0.1/", {}, ""}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HttpErrorKind::bad_url);
}

// Waits until `ready()` holds, looking every 10 ms, for at most `limit`.
Task<bool> eventually(std::function<bool()> ready, std::chrono::milliseconds limit) {
  boost::asio::steady_timer t(co_await net::this_coro::executor);
  for (auto waited = 0ms; waited < limit; waited += 10ms) {
    if (ready()) co_return true;
    t.expires_after(10ms);
    co_await t.async_wait(net::use_awaitable);
  }
  co_return ready();
}

TEST_F(HttpTest, AStreamedAnswerReachesTheCallerPieceByPiece) {
  // The server yields its next piece only once the client has seen the one before: a client
  // that waited for the whole body would never see the end.
  std::string seen;
  int yielded = 0;
  start_answering([&](Request) -> Task<Answer> {
    Answer a;
    a.response = Response{200, {{"Content-Type", "text/xml"}}, "<one/>"};
    a.chunks = [&]() -> Task<std::optional<std::string>> {
      const std::string expected = yielded == 0 ? "<one/>" : "<one/><two/>";
      if (!co_await eventually([&] { return seen == expected; }, 2000ms)) co_return std::nullopt;
      if (++yielded > 2) co_return std::nullopt;
      co_return yielded == 1 ? "<two/>" : "<three/>";
    };
    co_return a;
  });
  auto c = client();
  auto r = test::run(io_, c->stream(Request{"POST", url_, {}, "subscribe"}, [&](std::string_view bytes) {
    seen += bytes;
    return true;
  }, 1000ms));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(seen, "<one/><two/><three/>");
  EXPECT_EQ(yielded, 3);
  EXPECT_EQ(c->stats().connections_opened, 1u);
}

TEST_F(HttpTest, ASilentStreamTimesOutAndAStoppedOneEndsCleanly) {
  start_answering([](Request) -> Task<Answer> {
    Answer a;
    a.response = Response{200, {}, "<hello/>"};
    a.chunks = []() -> Task<std::optional<std::string>> {
      boost::asio::steady_timer t(co_await net::this_coro::executor, 3s);
      co_await t.async_wait(net::as_tuple(net::use_awaitable));
      co_return std::nullopt;
    };
    co_return a;
  });
  auto c = client();
  std::string seen;
  auto sink = [&](std::string_view bytes) {
    seen += bytes;
    return true;
  };
  const auto started = std::chrono::steady_clock::now();
  auto silent = test::run(io_, c->stream(Request{"POST", url_, {}, ""}, sink, 200ms));
  ASSERT_FALSE(silent);
  EXPECT_EQ(silent.error().kind, HttpErrorKind::timeout) << silent.error().message;
  EXPECT_EQ(seen, "<hello/>");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);

  auto stop = std::make_shared<StreamStop>();
  seen.clear();
  auto stopped = test::run(io_, c->stream(Request{"POST", url_, {}, ""}, [&](std::string_view bytes) {
    seen += bytes;
    stop->stop();  // the caller decides, from elsewhere, that it has had enough
    return true;
  }, 2000ms, stop));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(seen, "<hello/>");
  server_->stop();
}

TEST_F(HttpTest, AStreamRequestAnsweredWithAnErrorGetsTheWholeBody) {
  start([](Request) -> Task<Response> { co_return Response{503, {{"Retry-After", "5"}}, "busy, come back later"}; });
  auto c = client();
  bool streamed = false;
  auto r = test::run(io_, c->stream(Request{"POST", url_, {}, ""}, [&](std::string_view) { return streamed = true; }, 1000ms));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, "busy, come back later");
  EXPECT_FALSE(streamed);
}

TEST(FormEncodeTest, EncodesReservedCharacters) {
  EXPECT_EQ(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(form_encode("Az09-._~"), "Az09-._~");
}

}  // namespace
}  // namespace exsync::http
