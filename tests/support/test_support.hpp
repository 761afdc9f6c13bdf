// Helpers shared by the test suite: temporary folders, child processes, the tenant simulator as
// a real HTTPS server, and running a coroutine to completion.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "exsync/core/async.hpp"
#include "exsync/auth/entra_token_source.hpp"
#include "exsync/http/client.hpp"

namespace exsync::test {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& content);
// Replaces the first `from` in the configuration file with `to`; fails the test when `from` is
// not there (the simulator's configuration changed under the test).
void edit_config(const fs::path& config, const std::string& from, const std::string& to);
// The simulator's configuration with the daemon polling every second, as tests of a running
// daemon want.
inline void poll_every_second(const fs::path& config) {
  edit_config(config, "interval_seconds = 10", "interval_seconds = 1");
}
// Writes a file only its owner may read, as exsyncd requires of secrets.
void write_secret_file(const fs::path& p, const std::string& content);
std::string read_file(const fs::path& p);

// Runs `task` on `io` until it completes and returns its result. Other work on `io` (a server)
// runs meanwhile and resumes with the next run().
template <typename T>
T run(boost::asio::io_context& io, Task<T> task) {
  std::optional<T> out;
  std::exception_ptr failure;
  auto wrapper = [](Task<T> t, std::optional<T>& slot) -> Task<void> { slot.emplace(co_await std::move(t)); };
  boost::asio::co_spawn(io, wrapper(std::move(task), out), [&](std::exception_ptr e) {
    failure = e;
    io.stop();  // servers on `io` keep it busy: stop as soon as the task is done
  });
  io.restart();
  io.run();
  if (failure) std::rethrow_exception(failure);
  return std::move(*out);
}

inline void run(boost::asio::io_context& io, Task<void> task) {
  auto wrapped = [](Task<void> t) -> Task<bool> {
    co_await std::move(t);
    co_return true;
  };
  run(io, wrapped(std::move(task)));
}

struct ProcessResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// A child process with stdout and stderr captured to files. When it is exsyncd, its output is
// searched for the simulator's secrets as it ends, and any found fails the test.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const fs::path& log_dir, const std::string& name);
  ~Process();  // SIGKILLs a process still running
  int pid() const { return pid_; }
  void signal(int signo);
  // Waits up to `timeout`; nullopt if still running.
  std::optional<ProcessResult> wait(std::chrono::milliseconds timeout);
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  int pid_ = -1;
  bool daemon_ = false;  // an exsyncd run: its output is searched for secrets when it ends
  fs::path out_, err_;
  std::optional<int> status_;
};

// Runs a program to completion (killing it after `timeout`).
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Paths baked in by CMake (replaced with $EXSYNC_TEST_DAEMON and $EXSYNC_TEST_SIM when set).
fs::path exsyncd_path();
fs::path sim_path();
fs::path source_dir();
// ../shared beside the source tree, or nullopt when absent (a user's clone).
std::optional<fs::path> shared_dir();

struct SimOptions {
  int mailboxes = 3;
  int contacts = 25;
  int events = 5;
  int seed = 1;
  int token_lifetime = 3600;
  bool validate_schema = true;  // with ../shared/ews-schema, which must then be present
  bool client_certificate = false;  // --client-certificate: client.crt and client.key for app-only sign-in
};

// The tenant simulator, started as a real process on a free loopback port.
class Simulator {
 public:
  explicit Simulator(SimOptions options = {});
  ~Simulator();

  const fs::path& dir() const { return dir_.path(); }
  fs::path config() const { return dir_.path() / "exsync.toml"; }
  unsigned short port() const { return port_; }
  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  std::string password() const;
  bool validating() const { return validating_; }
  std::vector<std::string> mailboxes() const;

  // A client that trusts the simulator's CA (and nothing else), and the service account's
  // sign-in settings for its token endpoint.
  http::ClientOptions client_options() const;
  auth::RopcSettings ropc_settings() const;
  // App-only sign-in (client credentials with the app's secret) for Microsoft Graph.
  auth::RopcSettings graph_app_settings() const;
  std::string graph_url() const { return base_url() + "/graph/v1.0"; }

  // The control API (tests/sim/control_endpoint.hpp), synchronously.
  http::Response control(const std::string& method, const std::string& path, const std::string& body = "");
  // Contacts of a mailbox as the simulator holds them: contact JSON lines with ews_id, by ews_id.
  std::map<std::string, std::string> contacts(const std::string& mailbox);
  int operation_count(const std::string& op);
  // Requests of one kind the Graph endpoint answered ("delta", "draft", "upload_chunk", ...).
  int graph_operation_count(const std::string& op);
  // A number of /sim/stats by its name ("graph_without_immutable_ids", ...); -1 when there is none.
  int stat(const std::string& name);
  // When validating, expects that every EWS request so far passed Microsoft's schema.
  void expect_schema_valid_requests();
  int schema_violations();
  std::string last_schema_violation();

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  unsigned short port_ = 0;
  bool validating_ = false;
};

// The daemon's CRM API, spoken through curl (a client independent of exsync's own HTTP code), at
// the address and with the token of the simulator's configuration. Every exchange is recorded,
// and checked against docs/openapi.yaml when the CrmApi goes (tests/interop/openapi/validate.mjs):
// a route, parameter, body, status or answer the document does not describe fails the test.
class CrmApi {
 public:
  explicit CrmApi(const Simulator& sim);
  ~CrmApi();
  CrmApi(const CrmApi&) = delete;
  CrmApi& operator=(const CrmApi&) = delete;
  struct Answer {
    int status = 0;  // 0: no answer (the daemon was not there, or did not answer in 10 s)
    std::string body;
    std::string head;  // the status line and header fields
    // The value of the header field `name` (any case); empty when absent.
    std::string header(std::string_view name) const;
  };
  Answer call(const std::string& method, const std::string& path, const std::string& body = "",
              const std::vector<std::string>& headers = {});

 private:
  std::string base_, token_;
  TempDir bodies_;
  int count_ = 0;
  std::string exchanges_;  // JSON lines, for the contract check
};

// The daemon's API address in the simulator's configuration: "127.0.0.1:PORT".
std::string api_address(const Simulator& sim);

// The CRM's contacts of each mailbox, by display name, and how often each is there.
std::map<std::string, int> crm_contact_names(CrmApi& api, const std::string& mailbox);
// Whether the CRM sees a contact of the mailbox with this display name.
bool crm_has_contact(CrmApi& api, const std::string& mailbox, const std::string& display_name);
// The mailbox's "sync" member in GET /v1/mailboxes (where it stands in the schedule); empty when
// the daemon does not answer or does not schedule it.
boost::json::object mailbox_sync(CrmApi& api, const std::string& mailbox);

// Waits until every contact `made` names (by mailbox) is in the CRM, then checks that none is
// there twice and that each mailbox holds `initial` contacts besides: every change arrived once.
::testing::AssertionResult crm_has_each_once(CrmApi& api, const std::vector<std::string>& mailboxes,
                                             const std::map<std::string, std::vector<std::string>>& made,
                                             std::size_t initial, const std::function<std::string()>& context);

// Checks recorded API exchanges (JSON lines in `file`) against docs/openapi.yaml; the
// validator's report on failure, empty when every exchange is as documented.
std::string openapi_violations(const fs::path& file);

// `exsyncd run` on a configuration, started, killed and started again at will; each run logs to
// its own files under `log_dir`.
class Daemon {
 public:
  Daemon(fs::path config, fs::path log_dir) : config_(std::move(config)), log_dir_(std::move(log_dir)) {}
  // Starts a run and returns once its API listens (fails the test if it exits or takes 30 s).
  void start();
  void kill();  // SIGKILL, and reaped
  // SIGTERM, as systemd stops it: holds when it exits 0 within `timeout` (the log says why not).
  ::testing::AssertionResult stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void signal(int signo) { process_->signal(signo); }
  std::optional<ProcessResult> wait(std::chrono::milliseconds timeout) { return process_->wait(timeout); }
  bool running() const { return process_ != nullptr; }
  std::string log() const { return process_ ? process_->stderr_text() : std::string(); }
  int starts() const { return starts_; }

 private:
  fs::path config_, log_dir_;
  std::unique_ptr<Process> process_;
  int starts_ = 0;
};

// Polls `done` every 100 ms until it holds or `timeout` passes. On a timeout the failure names
// `what` and appends `context()` (a daemon's log, say): ASSERT_TRUE(test::eventually(...)).
::testing::AssertionResult eventually(const std::function<bool()>& done, const std::string& what,
                                      const std::function<std::string()>& context = {},
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Percent-encodes a path segment.
std::string url_segment(const std::string& s);

// `exsyncd items` output parsed into JSON lines keyed by ews_id; fails the test on duplicates.
std::map<std::string, std::string> stored_items(const fs::path& config, const std::string& mailbox);

// Removes the store's own members, "id" (the local id) and "etag", from a contact JSON line so
// that it compares with the simulator's.
std::string without_local_id(const std::string& json_line);
// A contact JSON line as both sides keep it: without the store's own members (local id, ETag), and without
// Exchange's modification time, which the store does not keep for a contact the CRM created.
// (Compare the objects: they compare member by member, whatever the order.)
boost::json::object comparable_contact(const std::string& json_line);
// Overwrites 3000 bytes inside the page in the middle of the SQLite file at `db` (closed, its
// WAL checkpointed), as a failing disk would.
void damage_database(const fs::path& db);

}  // namespace exsync::test
