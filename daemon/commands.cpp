// `exsyncd` commands that work on a configuration: load it, then hand over to the command.
#include "commands.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <thread>

#include "exsync/core/mailbox_address.hpp"
#include "exsync/log/log.hpp"
#include "runtime.hpp"

namespace exsync::daemon {

namespace {

int backup(const Runtime& rt, const CommandLine& cl) {
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

// --watch: the status table again every 2 s (on a terminal, in place) until interrupted.
int watch_status(Runtime& rt, const CommandLine& cl, const std::vector<std::string>& mailboxes) {
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
  if (cl.command == Command::backup) return backup(rt, cl);
  if (cl.command == Command::items || cl.command == Command::status) {
    if (!std::filesystem::exists(rt.cfg.store_path)) {
      std::fprintf(stderr, "exsyncd: the store %s does not exist yet; run exsyncd once or run first\n",
                   rt.cfg.store_path.c_str());
      return kExitIoError;
    }
    if (!open_store(rt, {})) return kExitIoError;
    if (cl.command == Command::items) return print_items(rt, cl);
    return cl.watch ? watch_status(rt, cl, mailboxes) : print_status(rt, cl, mailboxes);
  }
  if (int rc = build_runtime(rt); rc != 0) return rc;
  return run_daemon(rt, cl.command == Command::run, mailboxes, !cl.mailbox.empty());
}

}  // namespace exsync::daemon
