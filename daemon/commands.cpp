#include "commands.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <unistd.h>
#include <cstdio>
#include <iostream>

#include "exsync/api/api_service.hpp"
#include "exsync/auth/basic_credentials.hpp"
#include "exsync/auth/entra_token_source.hpp"
#include "exsync/config/config.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/ews/ews_service.hpp"
#include "exsync/http/client.hpp"
#include "exsync/http/server.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/item_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/governed_remote.hpp"
#include "exsync/sync/scheduler.hpp"
#include "service_manager.hpp"

namespace exsync::daemon {

ews::EwsSettings ews_settings(const config::Config& cfg) {
  ews::EwsSettings s{cfg.ews.url, cfg.ews.get_item_batch_size};
  if (cfg.tenant.access == config::TenantConfig::Access::delegate) s.addressing = ews::Addressing::delegate;
  return s;
}

http::ClientOptions client_options(const config::Config& cfg) {
  http::ClientOptions opts;
  opts.ca_file = cfg.tls_ca_file;
  opts.timeout = cfg.ews.request_timeout;
  opts.max_response_bytes = cfg.ews.max_response_bytes;
  opts.user_agent = std::string("exsync/") + EXSYNC_VERSION;
  return opts;
}

auth::RopcSettings entra_settings(const config::Config& cfg) {
  auth::RopcSettings s{cfg.tenant.token_url(), cfg.tenant.client_id, cfg.tenant.scope, cfg.service_account.username,
                       cfg.service_account.password.reveal()};
  if (cfg.tenant.access == config::TenantConfig::Access::app) {
    s.client_secret = cfg.tenant.client_secret.reveal();
    s.client_certificate = cfg.tenant.client_certificate;
  }
  return s;
}

namespace {

// How long a stop request waits for pages in flight before aborting their requests.
constexpr std::chrono::seconds kStopGrace{20};

struct Runtime {
  config::Config cfg;
  net::io_context io;
  net::thread_pool blocking{1};  // the store
  net::thread_pool parser{1};    // GetItem answers, the bulk of an initial sync
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<http::Client> client;
  std::unique_ptr<auth::EntraTokenSource> tokens;  // Entra ID, unless [tenant] auth = "basic"
  std::unique_ptr<auth::BasicCredentials> basic;
  std::unique_ptr<ews::EwsService> ews;
  std::unique_ptr<sync::LoadGovernor> governor;
  std::unique_ptr<sync::GovernedRemote> remote;  // ews, as the governor allows
  std::unique_ptr<sync::SyncEngine> engine;
  std::unique_ptr<sync::Schedule> schedule;      // run only
  std::unique_ptr<api::ApiService> api;
  std::unique_ptr<http::Server> api_server;
  // Called on the network thread when the API stored a write for a mailbox.
  std::function<void(const std::string&)> on_write;
  // The daemon's metrics, once its scheduler exists.
  std::function<std::string()> metrics;

  ~Runtime() {
    blocking.join();
    parser.join();
  }
};

std::vector<model::FolderKind> folders_of(const config::Config& cfg) {
  std::vector<model::FolderKind> out;
  for (const auto& f : cfg.sync.folders) out.push_back(*model::parse_folder(f));
  return out;
}

// Opens the store into `rt.store`; logs store.open.failed and returns false when it cannot.
bool open_store(Runtime& rt, const store::SqliteStore::OpenOptions& options) {
  auto store = store::SqliteStore::open(rt.cfg.store_path, options);
  if (!store) {
    log::error("store.open.failed", {{"path", rt.cfg.store_path.string()},
                                     {"kind", store.error().kind == model::StoreErrorKind::corrupt ? "corrupt" : "io"},
                                     {"message", store.error().message}});
    return false;
  }
  rt.store = std::move(*store);
  return true;
}

// Builds everything a sync needs; prints the problem and returns an exit status on failure.
int build_runtime(Runtime& rt) {
  if (!open_store(rt, {.check_integrity = true})) return kExitIoError;

  auto opts = client_options(rt.cfg);
  opts.max_idle_per_origin = static_cast<std::size_t>(rt.cfg.sync.max_concurrent_mailboxes) + 2;
  auto client = http::Client::create(rt.io.get_executor(), opts);
  if (!client) {
    std::fprintf(stderr, "exsyncd: %s: tls.ca_file: %s\n", rt.cfg.source.c_str(), client.error().message.c_str());
    return kExitConfig;
  }
  rt.client = std::move(*client);

  rt.tokens = std::make_unique<auth::EntraTokenSource>(rt.io.get_executor(), *rt.client, MonotonicClock::instance(),
                                                       entra_settings(rt.cfg));
  if (rt.cfg.tenant.basic_auth)
    rt.basic = std::make_unique<auth::BasicCredentials>(rt.cfg.service_account.username,
                                                        rt.cfg.service_account.password.reveal());
  rt.ews = std::make_unique<ews::EwsService>(*rt.client,
                                             rt.basic ? static_cast<auth::TokenSource&>(*rt.basic) : *rt.tokens,
                                             ews_settings(rt.cfg), &rt.parser);
  rt.governor = std::make_unique<sync::LoadGovernor>(
      MonotonicClock::instance(), sync::GovernorSettings{.max_concurrent = rt.cfg.max_concurrent_requests()});
  rt.remote = std::make_unique<sync::GovernedRemote>(*rt.ews, *rt.governor, MonotonicClock::instance());
  sync::SyncOptions sync_options;
  sync_options.max_delete_share = rt.cfg.sync.max_delete_share;
  sync_options.conflict = rt.cfg.sync.local_wins ? sync::ConflictPolicy::local_wins : sync::ConflictPolicy::remote_wins;
  rt.engine = std::make_unique<sync::SyncEngine>(*rt.remote, *rt.store, rt.blocking, sync_options);
  return 0;
}

// SIGTERM/SIGINT: stop after the pages in flight commit; abort them after a grace period.
void arm_stop_signals(Runtime& rt, net::signal_set& signals, std::function<void()> wake, net::steady_timer& grace) {
  signals.async_wait([&rt, &grace, wake = std::move(wake)](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    log::info("daemon.stopping", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
    rt.engine->request_stop();
    wake();
    grace.expires_after(kStopGrace);
    grace.async_wait([&](const boost::system::error_code& gec) {
      if (gec) return;
      log::warn("daemon.stop.aborting_requests", {{"grace_seconds", kStopGrace.count()}});
      rt.client->shutdown();
    });
  });
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
                       [&rt]() { return rt.metrics ? rt.metrics() : std::string(); }});
  http::ServerOptions opts;
  opts.max_request_bytes = 8u << 20;
  rt.api_server = std::make_unique<http::Server>(rt.io.get_executor(), opts,
                                                 [&rt](http::Request r) { return rt.api->handle(std::move(r)); });
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

// The daemon's metrics in Prometheus text format (the API adds the store's backlog).
std::string metrics_text(const Runtime& rt, const sync::Scheduler& scheduler) {
  std::string out;
  auto metric = [&](std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
  };
  auto sample = [&](std::string_view name, std::string_view labels, double value) {
    out += name;
    if (!labels.empty()) {
      out += '{';
      out += labels;
      out += '}';
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, " %.15g\n", value);
    out += buf;
  };
  const auto census = rt.schedule->census();
  metric("exsync_mailboxes", "gauge", "Configured mailboxes by scheduling state.");
  sample("exsync_mailboxes", "state=\"backing_off\"", static_cast<double>(census.backing_off));
  sample("exsync_mailboxes", "state=\"due\"", static_cast<double>(census.due));
  sample("exsync_mailboxes", "state=\"syncing\"", static_cast<double>(census.syncing));
  sample("exsync_mailboxes", "state=\"waiting\"", static_cast<double>(census.waiting));
  const auto statuses = rt.schedule->statuses();  // per mailbox, below

  const auto& t = scheduler.totals();
  metric("exsync_mailbox_syncs_total", "counter", "Mailbox syncs since start, by result.");
  sample("exsync_mailbox_syncs_total", "result=\"success\"", static_cast<double>(t.succeeded));
  sample("exsync_mailbox_syncs_total", "result=\"failure\"", static_cast<double>(t.failed));
  metric("exsync_items_synced_total", "counter", "Items changed in the store from Exchange since start.");
  sample("exsync_items_synced_total", "change=\"created\"", static_cast<double>(t.created));
  sample("exsync_items_synced_total", "change=\"updated\"", static_cast<double>(t.updated));
  sample("exsync_items_synced_total", "change=\"deleted\"", static_cast<double>(t.deleted));
  metric("exsync_writes_total", "counter", "CRM changes written to Exchange since start.");
  sample("exsync_writes_total", "", static_cast<double>(t.written));

  const auto& g = rt.governor->stats();
  metric("exsync_requests_total", "counter", "Requests to Exchange since start, by outcome.");
  sample("exsync_requests_total", "outcome=\"success\"", static_cast<double>(g.successes));
  sample("exsync_requests_total", "outcome=\"throttled\"", static_cast<double>(g.throttled));
  sample("exsync_requests_total", "outcome=\"connection_lost\"", static_cast<double>(g.connection_lost));
  sample("exsync_requests_total", "outcome=\"error\"", static_cast<double>(g.other_errors));
  metric("exsync_request_limit", "gauge", "Requests allowed in flight at once; below the maximum while Exchange throttles.");
  sample("exsync_request_limit", "", rt.governor->limit());
  metric("exsync_endpoint_pauses_total", "counter", "Times Exchange asked every request to wait (HTTP 503/429).");
  sample("exsync_endpoint_pauses_total", "", static_cast<double>(g.pauses));
  metric("exsync_token_requests_total", "counter", "Requests to the Entra token endpoint since start.");
  sample("exsync_token_requests_total", "", rt.tokens->token_requests());

  metric("exsync_mailbox_last_success_timestamp_seconds", "gauge",
         "When each mailbox last synced without error (mailboxes that have since start).");
  for (const auto& s : statuses) {
    if (s.last_success == Clock::time_point{}) continue;
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(s.last_success.time_since_epoch()).count();
    sample("exsync_mailbox_last_success_timestamp_seconds", "mailbox=\"" + s.mailbox + "\"", static_cast<double>(secs));
  }
  metric("exsync_mailbox_consecutive_failures", "gauge", "Failed syncs in a row, for mailboxes failing now.");
  for (const auto& s : statuses) {
    if (s.failures > 0) sample("exsync_mailbox_consecutive_failures", "mailbox=\"" + s.mailbox + "\"", s.failures);
  }
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
      cfg.tenant.scope != rt.cfg.tenant.scope)
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
  if (!fixed_mailboxes) {
    change = rt.schedule->set_mailboxes(cfg.mailboxes);
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

// `run`: every mailbox synced about once per interval, CRM writes pushed promptly, until SIGTERM.
// `once`: one round over the mailboxes; the exit status says whether any failed.
int run_daemon(Runtime& rt, bool forever, const std::vector<std::string>& mailboxes, bool fixed_mailboxes) {
  if (forever && rt.cfg.api.enabled && !start_api(rt)) return kExitUnavailable;
  rt.schedule = std::make_unique<sync::Schedule>(
      MonotonicClock::instance(),
      sync::ScheduleSettings{.interval = rt.cfg.sync.interval,
                             .jitter = 0.1,
                             .backoff_cap = std::chrono::hours(1),
                             .seed = static_cast<std::uint32_t>(std::random_device{}())});
  rt.schedule->set_mailboxes(mailboxes);
  sync::Scheduler scheduler(*rt.engine, *rt.schedule, *rt.governor, MonotonicClock::instance(), folders_of(rt.cfg),
                            sync::SchedulerOptions{.one_round = !forever});
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
  net::signal_set hangup(rt.io, SIGHUP);
  std::function<void()> on_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      service.reloading();
      reload(rt, scheduler, fixed_mailboxes);
      service.ready(progress_line(*rt.schedule, scheduler, *rt.governor));
      on_hangup();
    });
  };
  if (forever) on_hangup();

  net::signal_set signals(rt.io, SIGTERM, SIGINT);
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
                               {"store", rt.cfg.store_path.string()}});
  net::co_spawn(
      rt.io,
      [&]() -> Task<void> {
        co_await scheduler.run();
        rt.on_write = nullptr;
        rt.metrics = nullptr;
        signals.cancel();
        grace.cancel();
        heartbeat.cancel();
        pruning.cancel();
        hangup.cancel();
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

int print_items(Runtime& rt, const CommandLine& cl) {
  auto folder = model::parse_folder(cl.folder);
  if (!folder) {
    std::fprintf(stderr, "exsyncd: --folder: \"%s\" is not a folder exsync syncs (contacts, calendar)\n", cl.folder.c_str());
    return kExitUsage;
  }
  auto items = rt.store->items(normalize_mailbox_address(cl.mailbox), *folder);
  if (!items) {
    log::error("store.read.failed", {{"message", items.error().message}});
    return kExitIoError;
  }
  std::string out;
  for (const auto& item : *items) {
    auto payload = model::payload_from_json(*folder, item.payload_json);
    if (!payload) {
      log::error("store.item.unreadable", {{"id", item.local_id}, {"message", payload.error()}});
      return kExitIoError;
    }
    // As the CRM's API shows it.
    out += model::payload_to_json(*payload, model::ItemIdentity{item.local_id, item.remote, store::item_etag(item)});
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

// `status`: one row per configured mailbox from the store (the daemon may be running).
int print_status(Runtime& rt, const CommandLine& cl, const std::vector<std::string>& mailboxes) {
  const bool progress_bars = ::isatty(STDOUT_FILENO) != 0;
  struct Row {
    std::string mailbox, state, last_success, last_error;
    std::map<std::string, std::int64_t> items;
    std::map<std::string, std::int64_t> initial_total;  // folders in their initial sync
    std::int64_t pending = 0, parked = 0, deletions_held = 0, quarantined = 0;
    // Items stored and expected over the folders in their initial sync.
    std::pair<std::int64_t, std::int64_t> progress() const {
      std::pair<std::int64_t, std::int64_t> p{0, 0};
      for (const auto& [f, total] : initial_total) {
        p.first += std::min(items.at(f), total);
        p.second += total;
      }
      return p;
    }
  };
  std::vector<Row> rows;
  for (const auto& mailbox : mailboxes) {
    Row row{mailbox, "never synced", "", "", {}};
    auto folders = rt.store->status(mailbox);
    auto outbox = rt.store->outbox(mailbox);
    if (!folders || !outbox) {
      log::error("store.read.failed", {{"message", folders ? outbox.error().message : folders.error().message}});
      return kExitIoError;
    }
    bool failing = false;
    for (const auto& f : *folders) {
      row.items[f.folder] = f.items;
      if (f.initial_total) row.initial_total[f.folder] = *f.initial_total;
      row.deletions_held += f.deletions_held;
      row.quarantined += f.quarantined;
      if (!f.last_success.empty() && (row.last_success.empty() || f.last_success < row.last_success))
        row.last_success = f.last_success;  // the folder that is furthest behind
      if (!f.last_error.empty()) {
        failing = true;
        row.last_error = f.last_error_at + " " + f.last_error;
      }
    }
    for (const auto& e : *outbox) (e.state == "parked" ? row.parked : row.pending) += 1;
    if (!folders->empty())
      row.state = failing                       ? "failing"
                  : row.deletions_held > 0      ? "held"
                  : row.quarantined > 0         ? "quarantine"
                  : !row.initial_total.empty()  ? "initial sync"
                                                : "ok";
    rows.push_back(std::move(row));
  }
  std::string out;
  if (cl.json) {
    boost::json::array list;
    for (const auto& r : rows) {
      boost::json::object items;
      for (const auto& [f, n] : r.items) items[f] = n;
      boost::json::object initial;
      for (const auto& [f, n] : r.initial_total) initial[f] = n;
      list.push_back(boost::json::object{
          {"mailbox", r.mailbox},
          {"state", r.state},
          {"last_success", r.last_success.empty() ? boost::json::value(nullptr) : boost::json::value(r.last_success)},
          {"last_error", r.last_error.empty() ? boost::json::value(nullptr) : boost::json::value(r.last_error)},
          {"items", std::move(items)},
          {"initial_sync_total", std::move(initial)},
          {"outbox", boost::json::object{{"pending", r.pending}, {"parked", r.parked}}},
          {"deletions_held", r.deletions_held},
          {"quarantined", r.quarantined}});
    }
    out = boost::json::serialize(boost::json::object{{"mailboxes", std::move(list)}}) + "\n";
  } else {
    std::size_t width = 7;
    for (const auto& r : rows) width = std::max(width, r.mailbox.size());
    char line[512];
    std::snprintf(line, sizeof line, "%-*s  %-12s  %-20s  %11s  %11s  %7s  %s\n", static_cast<int>(width), "MAILBOX",
                  "STATE", "LAST SUCCESS", "CONTACTS", "CALENDAR", "OUTBOX", "LAST ERROR");
    out += line;
    for (const auto& r : rows) {
      // "1200" once synced; "1200/5000" during the initial sync.
      auto count = [&](const char* f) {
        auto it = r.items.find(f);
        if (it == r.items.end()) return std::string("-");
        auto total = r.initial_total.find(f);
        return std::to_string(it->second) +
               (total == r.initial_total.end() ? "" : "/" + std::to_string(total->second));
      };
      std::snprintf(line, sizeof line, "%-*s  %-12s  %-20s  %11s  %11s  %7s  ", static_cast<int>(width),
                    r.mailbox.c_str(), r.state.c_str(), r.last_success.empty() ? "-" : r.last_success.c_str(),
                    count("contacts").c_str(), count("calendar").c_str(),
                    (std::to_string(r.pending) + (r.parked ? "+" + std::to_string(r.parked) + "!" : "")).c_str());
      out += line;
      std::string last = !r.last_error.empty() ? r.last_error
                         : r.quarantined > 0 ? std::to_string(r.quarantined) + " item" + (r.quarantined == 1 ? "" : "s") +
                                                   " Exchange will not hand over (GET .../quarantine)"
                                             : "-";
      if (const auto [done, total] = r.progress(); total > 0 && progress_bars) {
        // On a terminal, a bar for the initial sync before the last error, if any.
        constexpr int kBar = 20;
        const auto filled = static_cast<std::size_t>(done * kBar / total);
        last = "[" + std::string(filled, '#') + std::string(kBar - filled, '.') + "] " +
               std::to_string(done * 100 / total) + "%" + (r.last_error.empty() ? "" : "  " + r.last_error);
      }
      out += last;
      out += '\n';
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

int run_command(const CommandLine& cl) {
  auto cfg = config::load_config(cl.config);
  if (!cfg) {
    std::fprintf(stderr, "exsyncd: %s\n", cfg.error().message().c_str());
    return kExitConfig;
  }
  log::init(cfg->log_format, cfg->log_level);

  std::vector<std::string> mailboxes = cfg->mailboxes;
  if (!cl.mailbox.empty()) {
    if (auto problem = mailbox_address_problem(cl.mailbox)) {
      std::fprintf(stderr, "exsyncd: --mailbox: \"%s\" %s\n", cl.mailbox.c_str(), problem->c_str());
      return kExitUsage;
    }
    mailboxes = {normalize_mailbox_address(cl.mailbox)};
  }

  Runtime rt;
  rt.cfg = std::move(*cfg);
  if (cl.command == Command::backup) {
    auto report = store::backup_store(rt.cfg.store_path, cl.to);
    if (!report) {
      log::error("store.backup.failed", {{"path", rt.cfg.store_path.string()}, {"to", cl.to}, {"message", report.error().message}});
      return kExitIoError;
    }
    log::info("store.backup.done", {{"path", rt.cfg.store_path.string()},
                                    {"to", cl.to},
                                    {"bytes", report->bytes},
                                    {"schema_version", report->schema_version}});
    return 0;
  }
  if (cl.command == Command::items || cl.command == Command::status) {
    if (!std::filesystem::exists(rt.cfg.store_path)) {
      std::fprintf(stderr, "exsyncd: the store %s does not exist yet; run exsyncd once or run first\n",
                   rt.cfg.store_path.c_str());
      return kExitIoError;
    }
    if (!open_store(rt, {})) return kExitIoError;
    if (cl.command == Command::items) return print_items(rt, cl);
    if (!cl.watch) return print_status(rt, cl, mailboxes);
    // --watch: the table again every 2 s (on a terminal, in place) until interrupted.
    static volatile std::sig_atomic_t interrupted = 0;
    std::signal(SIGINT, [](int) { interrupted = 1; });
    std::signal(SIGTERM, [](int) { interrupted = 1; });
    const bool tty = ::isatty(STDOUT_FILENO) != 0;
    while (!interrupted) {
      if (tty) std::fputs("\x1b[H\x1b[2J", stdout);
      if (int rc = print_status(rt, cl, mailboxes); rc != 0) return rc;
      std::fflush(stdout);
      for (int i = 0; i < 20 && !interrupted; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }
  if (int rc = build_runtime(rt); rc != 0) return rc;
  return run_daemon(rt, cl.command == Command::run, mailboxes, !cl.mailbox.empty());
}

}  // namespace exsync::daemon
