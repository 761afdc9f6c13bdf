#include "runtime.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "backend.hpp"
#include "commands.hpp"
#include "exsync/log/log.hpp"

namespace exsync::daemon {

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

StoreLock::~StoreLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool StoreLock::acquire(const std::filesystem::path& store) {
  const auto path = store.string() + ".lock";
  std::error_code ec;
  if (store.has_parent_path()) std::filesystem::create_directories(store.parent_path(), ec);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    log::error("store.open.failed", {{"path", path}, {"kind", "io"}, {"message", std::strerror(errno)}});
    return false;
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      log::error("store.locked", {{"path", store.string()},
                                  {"message", "another exsyncd run or once uses this store; run one per store"}});
    } else {
      log::error("store.open.failed", {{"path", path}, {"kind", "io"}, {"message", std::strerror(err)}});
    }
    return false;
  }
  return true;
}

// Builds everything a sync needs; prints the problem and returns an exit status on failure.
int build_runtime(Runtime& rt) {
  if (!rt.lock.acquire(rt.cfg.store_path)) return kExitIoError;
  if (!open_store(rt, {.check_integrity = true})) return kExitIoError;

  auto opts = client_options(rt.cfg);
  opts.max_idle_per_origin = static_cast<std::size_t>(rt.cfg.sync.max_concurrent_mailboxes) + 2;
  auto client = http::Client::create(rt.io.get_executor(), opts);
  if (!client) {
    std::fprintf(stderr, "exsyncd: %s: tls.ca_file: %s\n", rt.cfg.source.c_str(), client.error().message.c_str());
    return kExitConfig;
  }
  rt.client = std::move(*client);
  if (rt.cfg.webhooks.enabled) {
    auto hook_opts = client_options(rt.cfg);
    hook_opts.timeout = rt.cfg.webhooks.timeout;
    hook_opts.max_idle_per_origin = static_cast<std::size_t>(rt.cfg.webhooks.max_in_flight);
    auto hooks = http::Client::create(rt.io.get_executor(), hook_opts);
    if (!hooks) {
      std::fprintf(stderr, "exsyncd: %s: tls.ca_file: %s\n", rt.cfg.source.c_str(), hooks.error().message.c_str());
      return kExitConfig;
    }
    rt.webhook_client = std::move(*hooks);
  }

  rt.tokens = std::make_unique<auth::EntraTokenSource>(rt.io.get_executor(), *rt.client, MonotonicClock::instance(),
                                                       entra_settings(rt.cfg));
  if (rt.cfg.tenant.basic_auth)
    rt.basic = std::make_unique<auth::BasicCredentials>(rt.cfg.service_account.username,
                                                        rt.cfg.service_account.password.reveal());
  rt.backend = make_backend(rt.cfg, *rt.client,
                            rt.basic ? static_cast<auth::TokenSource&>(*rt.basic) : *rt.tokens, rt.parser);
  rt.governor = std::make_unique<sync::LoadGovernor>(
      MonotonicClock::instance(), sync::GovernorSettings{.max_concurrent = rt.cfg.max_concurrent_requests()});
  rt.remote = std::make_unique<sync::GovernedRemote>(*rt.backend, *rt.governor, MonotonicClock::instance());
  sync::SyncOptions sync_options;
  sync_options.max_delete_share = rt.cfg.sync.max_delete_share;
  sync_options.conflict = rt.cfg.sync.local_wins ? sync::ConflictPolicy::local_wins : sync::ConflictPolicy::remote_wins;
  rt.engine = std::make_unique<sync::SyncEngine>(*rt.remote, *rt.store, rt.blocking, sync_options);
  return 0;
}

}  // namespace exsync::daemon
