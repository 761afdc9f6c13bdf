// What a command that syncs is built of: the configuration, the event loop and thread pools,
// the store, the HTTPS client, sign-in, the tenant's backend behind the load governor, and the
// engine. Built once per process by build_runtime(); the commands borrow it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "exsync/api/api_service.hpp"
#include "exsync/auth/basic_credentials.hpp"
#include "exsync/auth/entra_token_source.hpp"
#include "exsync/config/config.hpp"
#include "exsync/ews/streaming.hpp"
#include "exsync/graph/change_notifications.hpp"
#include "exsync/http/client.hpp"
#include "exsync/http/server.hpp"
#include "exsync/model/ports.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/governed_remote.hpp"
#include "exsync/sync/load_governor.hpp"
#include "exsync/sync/schedule.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "exsync/webhooks/dispatcher.hpp"

namespace exsync::daemon {

// An exclusive flock(2) on "<store>.lock", held for the process's life: one `run` or `once` per
// store (two would both sync and push the same mailboxes). The readers (`status`, `items`,
// `backup`) take none.
class StoreLock {
 public:
  StoreLock() = default;
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  ~StoreLock();
  // False, with a log line (store.locked or store.open.failed), when another process holds it.
  bool acquire(const std::filesystem::path& store);

 private:
  int fd_ = -1;
};

struct Runtime {
  config::Config cfg;
  StoreLock lock;
  net::io_context io;
  net::thread_pool blocking{1};  // the store
  net::thread_pool parser{1};    // GetItem answers, the bulk of an initial sync
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<http::Client> client;
  std::unique_ptr<auth::EntraTokenSource> tokens;  // Entra ID, unless [tenant] auth = "basic"
  std::unique_ptr<auth::BasicCredentials> basic;
  std::unique_ptr<model::RemoteMailboxService> backend;  // the tenant's protocol (backend.hpp)
  std::unique_ptr<sync::LoadGovernor> governor;
  std::unique_ptr<sync::GovernedRemote> remote;  // the backend, as the governor allows
  std::unique_ptr<sync::SyncEngine> engine;
  std::unique_ptr<sync::Schedule> schedule;      // run only
  std::unique_ptr<ews::StreamingHints> streaming;  // run only, EWS with [sync] streaming
  std::unique_ptr<graph::ChangeNotifications> notifications;  // run only, Graph with [graph] notification_url
  std::unique_ptr<http::Client> webhook_client;           // [webhooks]: its own timeout and pool
  std::unique_ptr<webhooks::Dispatcher> webhooks;         // run only, with [webhooks]
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

// The folders [sync] folders names.
std::vector<model::FolderKind> folders_of(const config::Config& cfg);

// Opens the store into `rt.store`; logs store.open.failed and returns false when it cannot.
bool open_store(Runtime& rt, const store::SqliteStore::OpenOptions& options);

// Builds everything a sync needs; prints the problem and returns an exit status on failure.
int build_runtime(Runtime& rt);

}  // namespace exsync::daemon
