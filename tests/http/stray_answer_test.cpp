// The HTTP client against a server that answers out of step with its requests: a second answer
// to one request (at once, or a moment later), an answer that names another request, an answer
// that comes before the request was written. Whatever the server does, no request may be handed
// an answer meant for another.
#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <regex>

#include "exsync/crypto/certificates.hpp"
#include "exsync/http/client.hpp"
#include "test_support.hpp"

namespace exsync::http {
namespace {

using namespace std::chrono_literals;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// What the scripted server knows of one request when it answers.
struct SeenRequest {
  int connection = 0;  // 1 for the first connection accepted, ...
  int index = 0;       // 1 for the first request on its connection, ...
  std::string id;      // its client-request-id
  std::string body;
};

// What it writes: raw bytes now, then perhaps more after a pause (a stray answer arriving while
// the connection sits idle in the client's pool). `early`: answer after the head only, without
// reading the body (and never read it).
struct ScriptedReply {
  std::string now;
  std::string later;
  std::chrono::milliseconds pause{0};
};

std::string answer(int status, const std::string& body, const std::string& echoed_id = "",
                   const std::string& extra_headers = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Error") + "\r\n";
  out += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!echoed_id.empty()) out += "client-request-id: " + echoed_id + "\r\n";
  out += extra_headers + "\r\n" + body;
  return out;
}

// A TLS server on 127.0.0.1:0 that reads requests (head, then Content-Length bytes of body) and
// writes whatever the script says, byte for byte.
class ScriptedServer {
 public:
  using Script = std::function<ScriptedReply(const SeenRequest&)>;
  ScriptedServer(net::io_context& io, const crypto::LocalPki& pki, Script script, bool early = false)
      : io_(io), acceptor_(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)), script_(std::move(script)),
        early_(early) {
    ctx_.use_certificate_chain(net::buffer(pki.server.certificate));
    ctx_.use_private_key(net::buffer(pki.server.private_key), net::ssl::context::pem);
    net::co_spawn(io_, accept_loop(), net::detached);
  }
  ~ScriptedServer() { stop(); }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto* s : open_) s->lowest_layer().close(ignored);
  }

 private:
  using Stream = net::ssl::stream<tcp::socket>;
  Task<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      net::co_spawn(io_, session(std::move(socket), ++connections_), net::detached);
    }
  }
  Task<void> session(tcp::socket socket, int connection) {
    Stream stream(std::move(socket), ctx_);
    open_.insert(&stream);
    struct Untrack {
      std::set<Stream*>& open;
      Stream* s;
      ~Untrack() { open.erase(s); }
    } untrack{open_, &stream};
    auto [hec] = co_await stream.async_handshake(net::ssl::stream_base::server, kTuple);
    if (hec) co_return;
    std::string buffer;
    for (int index = 1;; ++index) {
      auto [rec, n] = co_await net::async_read_until(stream, net::dynamic_buffer(buffer), "\r\n\r\n", kTuple);
      if (rec) co_return;
      const std::string head = buffer.substr(0, n);
      buffer.erase(0, n);
      std::smatch m;
      SeenRequest seen{connection, index, "", ""};
      if (std::regex_search(head, m, std::regex("client-request-id: ([^\r]*)\r", std::regex::icase))) seen.id = m[1];
      std::size_t length = 0;
      if (std::regex_search(head, m, std::regex("Content-Length: ([0-9]+)", std::regex::icase))) length = std::stoul(m[1]);
      if (!early_) {
        if (buffer.size() < length) {
          auto [bec, bn] = co_await net::async_read(stream, net::dynamic_buffer(buffer), net::transfer_exactly(length - buffer.size()), kTuple);
          if (bec) co_return;
          (void)bn;
        }
        seen.body = buffer.substr(0, length);
        buffer.erase(0, length);
      }
      auto reply = script_(seen);
      auto [wec, wn] = co_await net::async_write(stream, net::buffer(reply.now), kTuple);
      if (wec) co_return;
      if (!reply.later.empty()) {
        net::steady_timer t(io_, reply.pause);
        co_await t.async_wait(kTuple);
        auto [lec, ln] = co_await net::async_write(stream, net::buffer(reply.later), kTuple);
        if (lec) co_return;
      }
      if (early_) {
        // Never reads the rest: waits until the client gives up on the connection.
        char sink[1];
        (void)co_await stream.async_read_some(net::buffer(sink), kTuple);
        co_return;
      }
    }
  }

  net::io_context& io_;
  net::ssl::context ctx_{net::ssl::context::tls_server};
  tcp::acceptor acceptor_;
  Script script_;
  bool early_;
  int connections_ = 0;
  std::set<Stream*> open_;
};

class StrayAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = crypto::generate_local_pki("test CA", crypto::ServerIdentity{});
    ASSERT_TRUE(pki) << pki.error().message;
    pki_ = std::move(*pki);
    test::write_file(dir_ / "ca.pem", pki_.ca.certificate);
  }
  // Servers live until the test ends: their sessions may still be in the io_context.
  void serve(ScriptedServer::Script script, bool early = false) {
    servers_.push_back(std::make_unique<ScriptedServer>(io_, pki_, std::move(script), early));
    server_ = servers_.back().get();
    url_ = "https://127.0.0.1:" + std::to_string(server_->port()) + "/EWS/Exchange.asmx";
  }
  void TearDown() override {
    for (auto& s : servers_) s->stop();
    io_.restart();
    io_.run_for(200ms);  // the sessions see their sockets closed and end
  }
  std::unique_ptr<Client> client() {
    ClientOptions o;
    o.ca_file = dir_ / "ca.pem";
    o.use_system_trust = false;
    o.timeout = 5s;
    auto c = Client::create(io_.get_executor(), o);
    EXPECT_TRUE(c);
    return std::move(*c);
  }
  // Sends `body` and, like a caller that checked the answer, gives its connection back.
  Result<Response, HttpError> send(Client& c, std::string body, bool retry_safe = false) {
    Request r{"POST", url_, {{"Content-Type", "text/plain"}}, std::move(body)};
    r.retry_safe = retry_safe;
    auto resp = test::run(io_, c.send(std::move(r)));
    if (resp) resp->connection.reuse();
    return resp;
  }
  void pause(std::chrono::milliseconds d) {
    net::steady_timer t(io_, d);
    test::run(io_, [&]() -> Task<int> {
      co_await t.async_wait(net::use_awaitable);
      co_return 0;
    }());
  }

  net::io_context io_;
  test::TempDir dir_;
  crypto::LocalPki pki_;
  std::vector<std::unique_ptr<ScriptedServer>> servers_;
  ScriptedServer* server_ = nullptr;
  std::string url_;
};

// Each request is answered with its own body, so that a test sees whose answer it got.
ScriptedReply own_answer(const SeenRequest& r) { return {answer(200, "answer to " + r.body, r.id)}; }

TEST_F(StrayAnswerTest, EveryRequestCarriesAFreshClientRequestIdAndAsksForItsReturn) {
  std::vector<std::string> heads;
  serve([&](const SeenRequest& r) {
    heads.push_back(r.id);
    return own_answer(r);
  });
  auto c = client();
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = send(*c, "r" + std::to_string(i));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, "answer to r" + std::to_string(i));
    EXPECT_TRUE(std::regex_match(r->request_id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << r->request_id;
    EXPECT_EQ(heads.back(), r->request_id);
    ids.insert(r->request_id);
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(server_->connections(), 1) << "clean exchanges keep their connection";
}

// gromox 3.10 after refusing a send: an HTTP 500, then an HTTP 200, to one request.
TEST_F(StrayAnswerTest, ASecondAnswerToOneRequestIsNeverTakenForTheNext) {
  serve([](const SeenRequest& r) {
    if (r.body == "send") return ScriptedReply{answer(500, "refused") + answer(200, "stale empty answer")};
    return own_answer(r);
  });
  auto c = client();
  auto refused = send(*c, "send");
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_EQ(refused->status, 500);
  for (const char* next : {"sync mailbox A", "find in sent items"}) {
    auto r = send(*c, next);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->body, std::string("answer to ") + next);
  }
}

TEST_F(StrayAnswerTest, AStaleAnswerAfterASuccessIsNotTakenForTheNextEither) {
  // Both at once (in the client's read buffer already), and one arriving while the connection is
  // idle in the pool.
  for (auto pause : {0ms, 100ms}) {
    serve([pause](const SeenRequest& r) {
      if (r.body == "first") return ScriptedReply{answer(200, "answer to first"), answer(200, "stale copy"), pause};
      return own_answer(r);
    });
    auto c = client();
    auto first = send(*c, "first");
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first->body, "answer to first");
    this->pause(pause + 100ms);
    auto second = send(*c, "second");
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(second->body, "answer to second") << "pause " << pause.count() << " ms";
    EXPECT_EQ(c->stats().connections_discarded, 1u);
  }
}

TEST_F(StrayAnswerTest, AnErrorStatusClosesTheConnection) {
  serve([](const SeenRequest& r) {
    if (r.body == "bad") return ScriptedReply{answer(503, "busy", r.id)};
    return own_answer(r);
  });
  auto c = client();
  ASSERT_TRUE(send(*c, "bad"));
  ASSERT_TRUE(send(*c, "good"));
  EXPECT_EQ(server_->connections(), 2);
  EXPECT_EQ(c->stats().connections_opened, 2u);
}

TEST_F(StrayAnswerTest, ConnectionCloseIsHonoured) {
  serve([](const SeenRequest& r) { return ScriptedReply{answer(200, "bye", r.id, "Connection: close\r\n")}; });
  auto c = client();
  ASSERT_TRUE(send(*c, "a"));
  ASSERT_TRUE(send(*c, "b"));
  EXPECT_EQ(c->stats().connections_opened, 2u);
}

// A proxy out of step: each request on the connection gets the answer to the one before it.
TEST_F(StrayAnswerTest, AnAnswerNamingAnotherRequestIsRefusedAndItsConnectionClosed) {
  std::map<int, std::string> held;  // per connection: the answer not yet delivered
  serve([&](const SeenRequest& r) {
    auto mine = answer(200, "answer to " + r.body, r.id);
    if (r.connection > 1) return ScriptedReply{mine};  // later connections are in step
    auto& h = held[r.connection];
    auto out = h.empty() ? mine : h;
    h = mine;
    return ScriptedReply{out};
  });
  auto c = client();
  ASSERT_TRUE(send(*c, "write A"));
  // A write is not sent again: its outcome is the caller's to find out.
  auto write = send(*c, "write B");
  ASSERT_FALSE(write);
  EXPECT_EQ(write.error().kind, HttpErrorKind::mismatched) << write.error().message;
  EXPECT_FALSE(write.error().request_id.empty());
  EXPECT_EQ(c->stats().mismatched_answers, 0u + 1);
  // A read on the same server: the out-of-step connection is gone, the answer is its own.
  auto read = send(*c, "read C", /*retry_safe=*/true);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->body, "answer to read C");
}

TEST_F(StrayAnswerTest, AReadAnsweredForAnotherRequestIsAskedAgainOnAFreshConnection) {
  serve([](const SeenRequest& r) {
    if (r.connection == 1) return ScriptedReply{answer(200, "someone else's", "00000000-0000-4000-8000-000000000000")};
    return own_answer(r);
  });
  auto c = client();
  auto read = send(*c, "read", /*retry_safe=*/true);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->body, "answer to read");
  EXPECT_EQ(c->stats().mismatched_answers, 1u);
  EXPECT_EQ(server_->connections(), 2);
}

// A server that refuses a large request from its head alone and never reads the body: the
// answer is the request's, but the connection is not, and the write stops.
TEST_F(StrayAnswerTest, AnAnswerBeforeTheRequestIsWrittenIsUsedAndItsConnectionClosed) {
  serve([](const SeenRequest& r) { return ScriptedReply{answer(413, "too large", r.id)}; }, /*early=*/true);
  auto c = client();
  const auto started = std::chrono::steady_clock::now();
  auto r = send(*c, std::string(16u << 20, 'x'));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << "the client waited for a write nobody reads";
  EXPECT_EQ(c->stats().connections_discarded, 1u);
}

}  // namespace
}  // namespace exsync::http
