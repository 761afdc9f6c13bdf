// The exsyncd commands. Each lives in a file of its own: run.cpp (run, once), inspect.cpp (items,
// status), verify.cpp, secret.cpp; commands.cpp loads the configuration and dispatches. What
// they are built of is in runtime.hpp, the tenant's protocol in backend.hpp.
#pragma once

#include <string>
#include <vector>

#include "command_line.hpp"

namespace exsync::daemon {

struct Runtime;

// sysexits.h values, as systemd and init scripts expect them.
inline constexpr int kExitMailboxFailed = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitUnavailable = 69;
inline constexpr int kExitIoError = 74;
inline constexpr int kExitConfig = 78;

// Loads the configuration and runs a command that needs it (run, once, items, status, backup).
int run_command(const CommandLine& cl);

// `run`: every mailbox synced about once per interval, CRM writes pushed promptly, until SIGTERM.
// `once`: one round over `mailboxes`; the exit status says whether any failed.
int run_daemon(Runtime& rt, bool forever, const std::vector<std::string>& mailboxes, bool fixed_mailboxes);
// `items`: the folder's items as the CRM's API shows them, one JSON line each.
int print_items(Runtime& rt, const CommandLine& cl);
// `status`: one row per configured mailbox from the store (the daemon may be running).
int print_status(Runtime& rt, const CommandLine& cl, const std::vector<std::string>& mailboxes);

}  // namespace exsync::daemon
