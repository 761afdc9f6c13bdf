// exsync-sim: a simulated Microsoft 365 tenant (Entra ID token endpoint and Exchange Web Services)
// over real HTTPS on loopback, for tests, the demo and benchmarks.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sys/stat.h>

#include "control_endpoint.hpp"
#include "graph_endpoint.hpp"
#include "graph_subscriptions.hpp"
#include "webhook_receiver.hpp"
#include "request_ids.hpp"
#include "exsync/crypto/certificates.hpp"
#include "exsync/crypto/client_assertion.hpp"
#include "exsync/http/server.hpp"

namespace fs = std::filesystem;
using namespace exsync;

namespace {

constexpr const char* kUsage = R"(Usage: exsync-sim --dir DIR [options]

A simulated Microsoft 365 tenant for exsync: Entra ID's token endpoint, an Exchange Web
Services endpoint and Microsoft Graph (/graph/v1.0) on the same mailboxes, over HTTPS, with its
own CA. Writes DIR/ca.pem, DIR/exsync.toml (a daemon
configuration pointing at the simulator, with an [api] section), DIR/service-account.password,
DIR/client.secret (for app-only access), DIR/webhook.secret (the CRM receiver's, POST /crm/webhook),
DIR/api.token and DIR/mailboxes.txt, then serves until SIGTERM or SIGINT.

Options:
  --dir DIR             where to write the files (created if missing)
  --port P              TCP port on 127.0.0.1 (default 0: any free port)
  --mailboxes N         sample mailboxes agent1..agentN@contoso.onmicrosoft.com (default 3)
  --contacts C          contacts per sample mailbox (default 25)
  --events E            calendar items per sample mailbox (default 10): all-day events, a weekly
                        series across a daylight-saving change with one moved and one cancelled
                        occurrence, and single meetings in several time zones
  --seed S              seed for the sample data and ids (default 1)
  --token-lifetime S    access token lifetime in seconds (default 3600)
  --schema DIR          validate every EWS request against DIR/soap-envelope.xsd
  --api-port P          the port the written configuration gives exsyncd's API
                        (default: a port free when the simulator starts))
  --client-certificate  register a certificate on the app for app-only sign-in by client
                        assertion, and write it and its key as client.crt and client.key
  --budget SPEC         Exchange Online's EWS throttling, e.g.
                        "connections=27,sync=5,sync_backoff_ms=5000,rate=150,burst=300,latency_ms=20"
                        (per impersonated mailbox; rate_scope=account charges the request rate
                        to the service account); also PUT /sim/budget. Default: none
  --help
)";

bool write_file(const fs::path& p, const std::string& content, bool secret = false) {
  const auto tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    out << content;
    if (!out) return false;
  }
  if (secret) ::chmod(tmp.c_str(), 0600);
  std::error_code ec;
  fs::rename(tmp, p, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  fs::path schema_dir;
  int port = 0, mailboxes = 3, contacts = 25, events = 10;
  std::uint64_t seed = 1;
  long token_lifetime = 3600;
  int api_port = 0;
  std::string budget_spec;
  bool client_certificate = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "exsync-sim: %s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    try {
      if (a == "--dir") dir = next();
      else if (a == "--port") port = std::stoi(next());
      else if (a == "--mailboxes") mailboxes = std::stoi(next());
      else if (a == "--contacts") contacts = std::stoi(next());
      else if (a == "--events") events = std::stoi(next());
      else if (a == "--seed") seed = std::stoull(next());
      else if (a == "--token-lifetime") token_lifetime = std::stol(next());
      else if (a == "--schema") schema_dir = next();
      else if (a == "--api-port") api_port = std::stoi(next());
      else if (a == "--budget") budget_spec = next();
      else if (a == "--client-certificate") client_certificate = true;
      else if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      } else {
        std::fprintf(stderr, "exsync-sim: unknown argument \"%s\"\n%s", a.c_str(), kUsage);
        return 64;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "exsync-sim: %s needs a number\n", a.c_str());
      return 64;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "exsync-sim: --dir is required\n%s", kUsage);
    return 64;
  }
  fs::create_directories(dir);

  std::unique_ptr<sim::SchemaValidator> validator;
  if (!schema_dir.empty()) {
    std::string problem;
    validator = sim::SchemaValidator::load(schema_dir, problem);
    if (!validator) {
      std::fprintf(stderr, "exsync-sim: --schema: %s\n", problem.c_str());
      return 66;
    }
  }

  auto pki = crypto::generate_local_pki("exsync-sim test CA", crypto::ServerIdentity{});
  if (!pki) {
    std::fprintf(stderr, "exsync-sim: certificates: %s\n", pki.error().message.c_str());
    return 70;
  }

  sim::Tenant tenant("contoso.onmicrosoft.com", seed);
  tenant.token_lifetime = std::chrono::seconds(token_lifetime);
  std::string mailbox_list = "# Mailboxes of the simulated tenant, one per line.\n";
  for (int i = 1; i <= mailboxes; ++i) {
    const std::string addr = "agent" + std::to_string(i) + "@contoso.onmicrosoft.com";
    auto& mb = tenant.add_mailbox(addr);
    tenant.populate(mb, contacts);
    tenant.populate_calendar(mb, events);
    mailbox_list += addr + "\n";
  }
  sim::EwsEndpoint ews(tenant, validator.get());
  if (!budget_spec.empty()) {
    std::string problem;
    auto policy = sim::parse_budget_policy(budget_spec, problem);
    if (!policy) {
      std::fprintf(stderr, "exsync-sim: --budget: %s\n", problem.c_str());
      return 64;
    }
    ews.budget().set_policy(*policy);
  }
  sim::EntraEndpoint entra(tenant);
  sim::ControlEndpoint control(tenant, ews, entra);

  std::unique_ptr<sim::GraphEndpoint> graph;  // made once the port is known (its links name it)
  std::unique_ptr<sim::GraphSubscriptions> subscriptions;  // and the daemon's API port
  std::string base;                           // https://127.0.0.1:port, once it is known
  boost::asio::io_context io;
  http::ServerOptions server_options{pki->server.certificate, pki->server.private_key};
  server_options.disruption_header = sim::EwsEndpoint::kDisruptHeader;
  server_options.drop_handshake = [&tenant] {
    if (tenant.tls_faults <= 0) return false;
    --tenant.tls_faults;
    ++tenant.tls_faults_injected;
    return true;
  };
  const auto is_ews = [](const std::string& target) {
    return target.rfind("/EWS/Exchange.asmx", 0) == 0 || target.rfind("/ews/exchange.asmx", 0) == 0;
  };
  const auto add_request_ids = [&tenant](const http::Request& req, std::string_view header, http::Answer& answer) {
    const auto ids = sim::request_id_headers(tenant, req, header);
    answer.response.headers.insert(answer.response.headers.end(), ids.begin(), ids.end());
    for (auto& stale : answer.stale) stale.headers.insert(stale.headers.end(), ids.begin(), ids.end());
  };
  server_options.early_answer = [&](const http::Request& head) -> std::optional<http::Response> {
    if (!is_ews(head.url)) return std::nullopt;
    auto early = ews.early_answer(head);
    if (!early) return std::nullopt;
    http::Answer answer{std::move(*early), {}, false};
    add_request_ids(head, sim::kExchangeRequestIdHeader, answer);
    ++ews.stats().requests;
    ews.stats().bytes_sent += answer.response.body.size();
    return std::move(answer.response);
  };
  sim::WebhookReceiver webhooks;  // the CRM's webhook endpoint, for the daemon's deliveries
  http::Server server(io.get_executor(), server_options,
                      [&](http::Request req) -> Task<http::Answer> {
                        const std::string& t = req.url;
                        if (t.rfind("/sim/webhooks", 0) == 0) {
                          auto target = http::parse_request_target(t);
                          co_return http::Answer{target ? webhooks.control(req, target->segments)
                                                        : http::Response{400, {}, "bad target\n"},
                                                 {}, false};
                        }
                        if (t.rfind("/sim/graph/subscriptions", 0) == 0 && subscriptions) {
                          auto target = http::parse_request_target(t);
                          co_return http::Answer{target ? subscriptions->control(req, target->segments)
                                                        : http::Response{400, {}, "bad target\n"},
                                                 {}, false};
                        }
                        if (t.rfind("/sim/", 0) == 0) co_return http::Answer{control.handle(req), {}, false};
                        if (t == "/crm/webhook") co_return http::Answer{webhooks.receive(req), {}, false};
                        if (is_ews(t)) {
                          sim::BudgetTicket ticket;
                          auto answer = ews.handle(req, ticket);
                          add_request_ids(req, sim::kExchangeRequestIdHeader, answer);
                          auto& resp = answer.response;
                          ++ews.stats().requests;
                          ews.stats().bytes_sent += resp.body.size();
                          for (const auto& stale : answer.stale) ews.stats().bytes_sent += stale.body.size();
                          int latency = ews.budget().policy().latency_ms;
                          // An injected slow answer.
                          for (auto it = resp.headers.begin(); it != resp.headers.end(); ++it) {
                            if (it->name == sim::EwsEndpoint::kDelayHeader) {
                              latency += std::atoi(it->value.c_str());
                              resp.headers.erase(it);
                              break;
                            }
                          }
                          if (latency > 0) {
                            // The server's work on the request: it stays in flight meanwhile.
                            boost::asio::steady_timer work(co_await boost::asio::this_coro::executor);
                            work.expires_after(std::chrono::milliseconds(latency));
                            co_await work.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
                          }
                          ews.budget().release(ticket);
                          co_return answer;
                        }
                        if (t.rfind("/graph/v1.0/subscriptions", 0) == 0 && subscriptions) {
                          // Named first: GCC 12 mishandles a co_await inside a braced initializer.
                          http::Response resp = co_await subscriptions->handle(req);
                          http::Answer answer{std::move(resp), {}, false};
                          add_request_ids(req, sim::kExchangeRequestIdHeader, answer);
                          co_return answer;
                        }
                        if (t.rfind("/graph/", 0) == 0 && graph) {
                          // Graph answers with the same correlation headers as Exchange Online.
                          http::Answer answer{graph->handle(req), {}, false};
                          add_request_ids(req, sim::kExchangeRequestIdHeader, answer);
                          co_return answer;
                        }
                        // /{tenant}/oauth2/v2.0/token, /{tenant}/v2.0/.well-known/openid-configuration
                        // (Microsoft's libraries add query parameters to both.)
                        const std::string path = t.substr(0, t.find('?'));
                        const auto slash = path.find('/', 1);
                        if (slash != std::string::npos && req.method == "GET" &&
                            path.substr(slash) == "/v2.0/.well-known/openid-configuration") {
                          http::Answer answer{entra.openid_configuration(path.substr(1, slash - 1), base), {}, false};
                          add_request_ids(req, sim::kEntraRequestIdHeader, answer);
                          co_return answer;
                        }
                        // /common/userrealm/{username}: MSAL asks it before ROPC.
                        if (auto target = http::parse_request_target(t);
                            req.method == "GET" && target && target->segments.size() == 3 &&
                            target->segments[0] == "common" && target->segments[1] == "userrealm") {
                          http::Answer answer{entra.user_realm(target->segments[2]), {}, false};
                          add_request_ids(req, sim::kEntraRequestIdHeader, answer);
                          co_return answer;
                        }
                        if (slash != std::string::npos && path.substr(slash) == "/oauth2/v2.0/token") {
                          http::Answer answer{entra.handle(req, path.substr(1, slash - 1)), {}, false};
                          add_request_ids(req, sim::kEntraRequestIdHeader, answer);
                          co_return answer;
                        }
                        co_return http::Answer{http::Response{404, {{"Content-Type", "text/plain"}}, "not found\n"}, {}, false};
                      });
  auto bound = server.listen("127.0.0.1", static_cast<unsigned short>(port));
  if (!bound) {
    std::fprintf(stderr, "exsync-sim: %s\n", bound.error().message.c_str());
    return 69;
  }
  base = "https://127.0.0.1:" + std::to_string(*bound);
  graph = std::make_unique<sim::GraphEndpoint>(tenant, base);
  control.attach(*graph);
  if (api_port == 0) {
    // A port free now, for the daemon's API; the daemon binds it when it starts.
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    api_port = probe.local_endpoint().port();
  }
  // Graph's change notifications go to the public URL a daemon subscribes with; the simulator
  // plays the operator's reverse proxy too and forwards them to the daemon's listener.
  subscriptions = std::make_unique<sim::GraphSubscriptions>(
      tenant, base,
      sim::SubscriptionPolicy{.deliver_to = "http://127.0.0.1:" + std::to_string(api_port) + "/v1/graph/notifications"});
  boost::asio::co_spawn(io, subscriptions->run(), boost::asio::detached);
  std::string api_token;
  {
    std::random_device rd;
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 40; ++i) api_token += kHex[rd() % 16];
  }

  const std::string config = "# Written by exsync-sim: a daemon configuration for the simulated tenant at " + base +
                             ".\n"
                             "[tenant]\n"
                             "tenant_id = \"" + tenant.tenant_id() + "\"\n"
                             "client_id = \"" + tenant.client_id() + "\"\n"
                             "authority = \"" + base + "\"\n\n"
                             "[service_account]\n"
                             "username = \"" + tenant.service_account() + "\"\n"
                             "password_file = \"service-account.password\"\n\n"
                             "[ews]\n"
                             "url = \"" + base + "/EWS/Exchange.asmx\"\n"
                             "request_timeout_seconds = 30\n\n"
                             "[graph]\n"
                             "url = \"" + base + std::string(sim::GraphEndpoint::kRoot) + "\"\n\n"
                             "[tls]\n"
                             "ca_file = \"ca.pem\"\n\n"
                             "[store]\n"
                             "path = \"exsync.db\"\n\n"
                             "[mailboxes]\n"
                             "file = \"mailboxes.txt\"\n\n"
                             "[sync]\n"
                             "folders = [\"contacts\", \"calendar\"]\n"
                             "interval_seconds = 10\n"
                             "max_concurrent_mailboxes = 8\n"
                             "# polling only, so that tests count requests exactly; see README, \"Changes in seconds\"\n"
                             "streaming = false\n\n"
                             "[api]\n"
                             "listen = \"127.0.0.1:" + std::to_string(api_port) + "\"\n"
                             "token_file = \"api.token\"\n\n"
                             "[log]\n"
                             "format = \"logfmt\"\n"
                             "level = \"info\"\n";
  if (client_certificate) {
    auto cert = crypto::generate_client_certificate("exsync app", std::chrono::hours(24 * 365));
    if (!cert) {
      std::fprintf(stderr, "exsync-sim: client certificate: %s\n", cert.error().message.c_str());
      return 70;
    }
    tenant.client_certificate = cert->certificate;
    if (!write_file(dir / "client.crt", cert->certificate) || !write_file(dir / "client.key", cert->private_key, true)) {
      std::fprintf(stderr, "exsync-sim: cannot write into %s\n", dir.c_str());
      return 73;
    }
  }
  // exsync.toml is written last: its presence tells a waiting test that the simulator is ready.
  if (!write_file(dir / "ca.pem", pki->ca.certificate) ||
      !write_file(dir / "service-account.password", tenant.password() + "\n", true) ||
      !write_file(dir / "client.secret", tenant.client_secret() + "\n", true) ||
      !write_file(dir / "webhook.secret", webhooks.secret() + "\n", true) ||
      !write_file(dir / "mailboxes.txt", mailbox_list) || !write_file(dir / "api.token", api_token + "\n", true) || !write_file(dir / "sim.port", std::to_string(*bound) + "\n") ||
      !write_file(dir / "exsync.toml", config)) {
    std::fprintf(stderr, "exsync-sim: cannot write into %s\n", dir.c_str());
    return 73;
  }
  std::printf("exsync-sim: serving %s (EWS %s/EWS/Exchange.asmx), %d mailboxes x %d contacts + %d events, config %s\n",
              base.c_str(), base.c_str(), mailboxes, contacts, events, (dir / "exsync.toml").c_str());
  std::fflush(stdout);

  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });
  io.run();
  return 0;
}
