// `exsyncd run` and `exsyncd once`: the scheduler over the configured mailboxes, with the CRM's
// API, systemd's notifications, retention, SIGHUP reloads and a graceful SIGTERM.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <filesystem>
#include <optional>
#include <random>

#include "commands.hpp"
#include "exsync/log/log.hpp"
#include "exsync/sync/scheduler.hpp"
#include "backend.hpp"
#include "metrics.hpp"
#include "runtime.hpp"
#include "service_manager.hpp"

namespace exsync::daemon {

namespace {

// How long a stop request waits for pages in flight before aborting their requests.
constexpr std::chrono::seconds kStopGrace{20};

// SIGTERM/SIGINT: stop after the pages in flight commit; abort them after a grace period.
void arm_stop_signals(Runtime& rt, net::signal_set& signals, std::function<void()> wake, net::steady_timer& grace) {
  signals.async_wait([&rt, &grace, wake = std::move(wake)](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::info("daemon.stopping", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
    rt.engine->request_stop();
    if (rt.streaming) rt.streaming->stop();
    if (rt.notifications) rt.notifications->stop();
    wake();
    grace.expires_after(kStopGrace);
    grace.async_wait([&](const boost::system::error_code& gec) {
      if (gec) return;
      log::warn("daemon.stop.aborting_requests", {{"grace_seconds", kStopGrace.count()}});
      rt.client->shutdown();
      if (rt.webhook_client) rt.webhook_client->shutdown();
    });
  });
}

// One request to the daemon's listener: Graph's change notifications at their path (no bearer
// token: each notification proves itself by its clientState), the CRM's API for the rest.
Task<http::Response> serve(Runtime& rt, http::Request request) {
  const std::string_view target = request.url;
  if (rt.notifications && target.substr(0, target.find('?')) == config::GraphConfig::kNotificationPath)
    co_return rt.notifications->receive(request);
  co_return co_await rt.api->handle(std::move(request));
}

// Serves the CRM's API on [api] listen; false (and a log line) when the address cannot be bound.
bool start_api(Runtime& rt) {
  rt.api = std::make_unique<api::ApiService>(
      *rt.store, rt.blocking,
      api::ApiSettings{rt.cfg.api.token.reveal(), rt.cfg.mailboxes, EXSYNC_VERSION,
                       [&rt](const std::string& mailbox) {
                         if (rt.on_write) rt.on_write(mailbox);
                       },
                       [&rt](const std::string& mailbox) -> std::optional<sync::MailboxStatus> {
                         if (!rt.schedule) return std::nullopt;
                         return rt.schedule->status(mailbox);
                       },
                       [&rt]() { return rt.metrics ? rt.metrics() : std::string(); },
                       rt.backend->capabilities(),
                       [&rt]() -> std::optional<webhooks::EndpointStatus> {
                         if (!rt.webhooks) return std::nullopt;
                         return rt.webhooks->status();
                       },
                       [&rt]() {
                         if (rt.webhooks) rt.webhooks->wake();
                       },
                       rt.cfg.tenant.protocol == config::TenantConfig::Protocol::graph ? "notifications" : "streaming"});
  http::ServerOptions opts;
  opts.max_request_bytes = 8u << 20;
  rt.api_server = std::make_unique<http::Server>(rt.io.get_executor(), opts,
                                                 [&rt](http::Request r) { return serve(rt, std::move(r)); });
  if (const auto& path = rt.cfg.api.unix_socket; !path.empty()) {
    // A socket left behind by a killed daemon is replaced; any other file is not touched.
    std::error_code ec;
    if (std::filesystem::is_socket(path, ec)) std::filesystem::remove(path, ec);
    auto bound = rt.api_server->listen_unix(path.string());
    if (!bound) {
      log::error("api.listen.failed", {{"address", "unix:" + path.string()}, {"message", bound.error().message}});
      return false;
    }
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
                                           std::filesystem::perms::group_read | std::filesystem::perms::group_write, ec);
    log::info("api.listening", {{"address", "unix:" + path.string()}});
    return true;
  }
  auto port = rt.api_server->listen(rt.cfg.api.address, rt.cfg.api.port);
  if (!port) {
    log::error("api.listen.failed", {{"address", rt.cfg.api.address}, {"port", rt.cfg.api.port}, {"message", port.error().message}});
    return false;
  }
  log::info("api.listening", {{"address", rt.cfg.api.address}, {"port", *port}});
  return true;
}

// Which store a webhook's entries are of, in every webhook-id: the tenant, and the store's file.
std::string webhook_source(const config::Config& cfg) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : cfg.tenant.tenant_id + "|" + cfg.ews.url + "|" + cfg.store_path.filename().string()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int shift = 60; shift >= 28; shift -= 4) out += kHex[(h >> shift) & 0xf];
  return out;
}

// One line for systemd's STATUS: how far the first round is, or how the last one went.
std::string progress_line(const sync::Schedule& schedule, const sync::Scheduler& scheduler,
                          const sync::LoadGovernor& governor) {
  const auto census = schedule.census();
  std::string line;
  if (const auto& round = scheduler.last_round()) {
    line = std::to_string(schedule.size()) + " mailboxes, round " + std::to_string(round->number) + " took " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(round->duration).count()) + " s";
  } else {
    line = "initial sync: " + std::to_string(census.synced) + "/" + std::to_string(schedule.size()) + " mailboxes done";
  }
  line += ", " + std::to_string(census.syncing) + " syncing, " + std::to_string(census.failing) + " failing";
  if (governor.limit() < governor.max_concurrent())
    line += ", requests limited to " + std::to_string(governor.limit()) + " by throttling";
  return line;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

// SIGHUP: reads the configuration again and applies what can change while running (the mailbox
// list, the interval, the concurrency, the log level and format); syncs in flight go on. A
// configuration that no longer loads changes nothing.
void reload(Runtime& rt, sync::Scheduler& scheduler, bool fixed_mailboxes) {
  auto fresh = config::load_config(rt.cfg.source);
  if (!fresh) {
    log::error("config.reload.failed", {{"message", fresh.error().message()}});
    return;
  }
  auto& cfg = *fresh;
  if (cfg.log_format != rt.cfg.log_format || cfg.log_level != rt.cfg.log_level) log::init(cfg.log_format, cfg.log_level);

  std::vector<std::string> restart;  // changed, but only a restart applies them
  if (cfg.tenant.token_url() != rt.cfg.tenant.token_url() || cfg.tenant.client_id != rt.cfg.tenant.client_id ||
      cfg.tenant.scope != rt.cfg.tenant.scope || cfg.tenant.protocol != rt.cfg.tenant.protocol ||
      cfg.tenant.access != rt.cfg.tenant.access)
    restart.push_back("tenant");
  if (cfg.service_account.username != rt.cfg.service_account.username) restart.push_back("service_account");
  const bool rotated = cfg.service_account.password.reveal() != rt.cfg.service_account.password.reveal();
  if (rotated) {
    // The breach procedure: a new (sealed) password, then SIGHUP.
    rt.tokens->set_password(cfg.service_account.password.reveal());
    if (rt.basic) rt.basic->set_password(cfg.service_account.username, cfg.service_account.password.reveal());
    rt.cfg.service_account.password = cfg.service_account.password;
  }
  if (cfg.ews.url != rt.cfg.ews.url || cfg.ews.request_timeout != rt.cfg.ews.request_timeout ||
      cfg.ews.get_item_batch_size != rt.cfg.ews.get_item_batch_size)
    restart.push_back("ews");
  if (cfg.graph.url != rt.cfg.graph.url || cfg.graph.notification_url != rt.cfg.graph.notification_url)
    restart.push_back("graph");
  if (cfg.tls_ca_file != rt.cfg.tls_ca_file) restart.push_back("tls");
  if (cfg.store_path != rt.cfg.store_path) restart.push_back("store");
  if (cfg.api.enabled != rt.cfg.api.enabled || cfg.api.address != rt.cfg.api.address ||
      cfg.api.port != rt.cfg.api.port || cfg.api.unix_socket != rt.cfg.api.unix_socket ||
      cfg.api.token.reveal() != rt.cfg.api.token.reveal())
    restart.push_back("api");
  if (cfg.sync.folders != rt.cfg.sync.folders || cfg.sync.local_wins != rt.cfg.sync.local_wins ||
      cfg.sync.max_delete_share != rt.cfg.sync.max_delete_share)
    restart.push_back("sync.folders/conflict/max_delete_share");

  sync::Schedule::Change change;
  if (cfg.sync.streaming != rt.cfg.sync.streaming || cfg.sync.safety_interval != rt.cfg.sync.safety_interval ||
      cfg.sync.streaming_connection_minutes != rt.cfg.sync.streaming_connection_minutes ||
      cfg.sync.active_interval != rt.cfg.sync.active_interval)
    restart.push_back("sync.streaming/safety_interval_seconds/streaming_connection_minutes/active_interval_seconds");
  if (!fixed_mailboxes) {
    change = rt.schedule->set_mailboxes(cfg.mailboxes);
    if (rt.streaming) rt.streaming->set_mailboxes(cfg.mailboxes);
    if (rt.notifications) rt.notifications->set_mailboxes(cfg.mailboxes);
    if (rt.api) rt.api->set_mailboxes(cfg.mailboxes);
    rt.cfg.mailboxes = cfg.mailboxes;
  }
  if (cfg.sync.interval != rt.cfg.sync.interval) rt.schedule->set_interval(cfg.sync.interval);
  if (cfg.sync.max_concurrent_mailboxes != rt.cfg.sync.max_concurrent_mailboxes)
    rt.governor->set_max_concurrent(cfg.max_concurrent_requests());
  log::info("config.reloaded", {{"mailboxes", rt.schedule->size()},
                                {"added", joined(change.added)},
                                {"removed", joined(change.removed)},
                                {"interval_seconds", cfg.sync.interval.count()},
                                {"max_concurrent_mailboxes", cfg.sync.max_concurrent_mailboxes},
                                {"log_level", log::level_name(cfg.log_level)},
                                {"password_rotated", rotated}});
  if (!restart.empty()) log::warn("config.reload.restart_needed", {{"sections", joined(restart)}});
  rt.cfg.sync.interval = cfg.sync.interval;
  rt.cfg.sync.max_concurrent_mailboxes = cfg.sync.max_concurrent_mailboxes;
  rt.cfg.log_format = cfg.log_format;
  rt.cfg.log_level = cfg.log_level;
  scheduler.wake();
}

}  // namespace

// Streaming notifications as the schedule hears them: a change puts its mailbox first in line; a
// mailbox whose notifications flow is polled only at the safety interval.
class ScheduleHints final : public model::HintListener {
 public:
  ScheduleHints(sync::Schedule& schedule, sync::Scheduler& scheduler) : schedule_(schedule), scheduler_(scheduler) {}
  void changed(const std::string& mailbox) override {
    schedule_.prioritize(mailbox);
    scheduler_.wake();
  }
  void watching(const std::string& mailbox, bool live, std::string_view) override {
    schedule_.set_pushed(mailbox, live);
    scheduler_.wake();
  }

 private:
  sync::Schedule& schedule_;
  sync::Scheduler& scheduler_;
};

// `run`: every mailbox synced about once per interval, CRM writes pushed promptly, until SIGTERM.
// `once`: one round over the mailboxes; the exit status says whether any failed.
int run_daemon(Runtime& rt, bool forever, const std::vector<std::string>& mailboxes, bool fixed_mailboxes) {
  // The signals are caught from here on, before anything (the API's listener first) tells a
  // supervisor or a test that the daemon is up: one that arrives before its handler is armed
  // below is queued, not left to its default action (for SIGHUP, termination).
  net::signal_set signals(rt.io, SIGTERM, SIGINT);
  std::optional<net::signal_set> hangup;
  if (forever) hangup.emplace(rt.io, SIGHUP);
  if (forever && rt.cfg.webhooks.enabled) {
    const auto& w = rt.cfg.webhooks;
    rt.webhooks = std::make_unique<webhooks::Dispatcher>(
        *rt.store, rt.blocking, *rt.webhook_client,
        webhooks::Endpoint{.name = w.name, .url = w.url, .key = w.key.reveal(), .source = webhook_source(rt.cfg),
                           .timeout = w.timeout, .failing_after = w.failing_after, .max_retry = w.max_retry,
                           .max_in_flight = w.max_in_flight});
  }
  if (forever && !rt.cfg.graph.notification_url.empty()) {
    // Before the listener, so that Graph's first validation finds its route.
    rt.notifications = std::make_unique<graph::ChangeNotifications>(*rt.client, *rt.tokens, notification_settings(rt.cfg));
    rt.notifications->set_mailboxes(mailboxes);
  }
  if (forever && rt.cfg.api.enabled && !start_api(rt)) return kExitUnavailable;
  rt.schedule = std::make_unique<sync::Schedule>(
      MonotonicClock::instance(),
      sync::ScheduleSettings{.interval = rt.cfg.sync.interval,
                             .jitter = 0.1,
                             .backoff_cap = std::chrono::hours(1),
                             .seed = static_cast<std::uint32_t>(std::random_device{}()),
                             .pushed_interval = rt.cfg.sync.safety_interval,
                             .active_interval = rt.cfg.sync.active_interval});
  rt.schedule->set_mailboxes(mailboxes);
  sync::Scheduler scheduler(*rt.engine, *rt.schedule, *rt.governor, MonotonicClock::instance(), folders_of(rt.cfg),
                            sync::SchedulerOptions{.one_round = !forever});
  ScheduleHints hint_listener(*rt.schedule, scheduler);
  if (forever && rt.cfg.sync.streaming && rt.cfg.tenant.protocol == config::TenantConfig::Protocol::ews) {
    auto settings = streaming_settings(rt.cfg);
    rt.streaming = std::make_unique<ews::StreamingHints>(
        *rt.client, rt.basic ? static_cast<auth::TokenSource&>(*rt.basic) : *rt.tokens, std::move(settings));
    rt.streaming->set_mailboxes(mailboxes);
  }
  rt.metrics = [&] { return metrics_text(rt, scheduler); };
  // A write through the API puts its mailbox first in line.
  rt.on_write = [&](const std::string& mailbox) {
    rt.schedule->prioritize(mailbox);
    scheduler.wake();
  };
  // Mailboxes with writes still waiting from before a restart go first too.
  if (auto pending = rt.store->mailboxes_with_pending_work()) {
    for (const auto& mailbox : *pending) rt.schedule->prioritize(mailbox);
  } else {
    log::error("store.read.failed", {{"message", pending.error().message}});
    return kExitIoError;
  }

  // Under systemd (Type=notify): READY now that the store is open and the configuration valid,
  // then STATUS and WATCHDOG from this event loop, so that a stuck loop gets the service restarted.
  ServiceManager service;
  net::steady_timer heartbeat(rt.io);
  const auto beat = service.watchdog_interval()
                        ? std::min<std::chrono::microseconds>(*service.watchdog_interval() / 3, std::chrono::seconds(5))
                        : std::chrono::microseconds(std::chrono::seconds(5));
  std::function<void()> pulse = [&] {
    heartbeat.expires_after(beat);
    heartbeat.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      service.watchdog();
      service.status(progress_line(*rt.schedule, scheduler, *rt.governor));
      pulse();
    });
  };
  if (forever) {
    service.ready(progress_line(*rt.schedule, scheduler, *rt.governor));
    pulse();
  }

  // Retention: what only history needs goes at start and then hourly, on the store's thread.
  net::steady_timer pruning(rt.io);
  const store::SqliteStore::Retention retention{std::chrono::hours(24 * rt.cfg.retention.changes_days),
                                                std::chrono::hours(24 * rt.cfg.retention.conflicts_days),
                                                std::chrono::hours(24 * rt.cfg.retention.messages_days)};
  std::function<void()> prune = [&] {
    net::post(rt.blocking, [&rt, retention] {
      auto r = rt.store->prune(retention);
      if (!r) {
        log::warn("store.prune.failed", {{"message", r.error().message}});
      } else if (r->changes + r->conflicts + r->messages > 0) {
        log::info("store.pruned", {{"changes", r->changes}, {"conflicts", r->conflicts}, {"messages", r->messages}});
      }
    });
    pruning.expires_after(std::chrono::hours(1));
    pruning.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) prune();
    });
  };
  if (forever) prune();

  // SIGHUP (systemctl reload): the configuration again, applied live.
  std::function<void()> on_hangup = [&] {
    hangup->async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      service.reloading();
      reload(rt, scheduler, fixed_mailboxes);
      service.ready(progress_line(*rt.schedule, scheduler, *rt.governor));
      on_hangup();
    });
  };
  if (forever) on_hangup();

  net::steady_timer grace(rt.io);
  arm_stop_signals(rt, signals,
                   [&] {
                     if (forever)
                       service.stopping("stopping: " + std::to_string(scheduler.in_flight()) +
                                        " syncs in flight finish their page");
                     scheduler.wake();
                   },
                   grace);
  log::info("daemon.started", {{"version", EXSYNC_VERSION},
                               {"mode", forever ? "run" : "once"},
                               {"mailboxes", mailboxes.size()},
                               {"max_concurrent", rt.cfg.sync.max_concurrent_mailboxes},
                               {"max_requests", rt.cfg.max_concurrent_requests()},
                               {"access", config::access_name(rt.cfg.tenant.access)},
                               {"protocol", config::protocol_name(rt.cfg.tenant.protocol)},
                               {"store", rt.cfg.store_path.string()}});
  if (rt.webhooks) {
    log::info("webhook.started", {{"endpoint", rt.cfg.webhooks.name}, {"url", rt.cfg.webhooks.url}});
    net::co_spawn(rt.io, rt.webhooks->run(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  if (rt.streaming) {
    net::co_spawn(rt.io, rt.streaming->run(hint_listener), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  if (rt.notifications) {
    net::co_spawn(rt.io, rt.notifications->run(hint_listener), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
  net::co_spawn(
      rt.io,
      [&]() -> Task<void> {
        co_await scheduler.run();
        if (rt.streaming) rt.streaming->stop();
        if (rt.notifications) rt.notifications->stop();
        if (rt.webhooks) rt.webhooks->stop();
        rt.on_write = nullptr;
        rt.metrics = nullptr;
        signals.cancel();
        grace.cancel();
        heartbeat.cancel();
        pruning.cancel();
        if (hangup) hangup->cancel();
        if (rt.api_server) rt.api_server->stop();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  rt.io.run();
  const std::size_t failed = rt.schedule->census().with_error;
  log::info("daemon.stopped", {{"syncs_started", scheduler.started()}, {"failed_mailboxes", failed}});
  return failed > 0 && !forever ? kExitMailboxFailed : 0;
}

}  // namespace exsync::daemon
