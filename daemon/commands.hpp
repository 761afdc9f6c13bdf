// The exsyncd commands: wiring the modules together from the configuration.
#pragma once

#include "command_line.hpp"
#include "exsync/config/config.hpp"
#include "exsync/ews/ews_service.hpp"

namespace exsync::daemon {

// sysexits.h values, as systemd and init scripts expect them.
inline constexpr int kExitMailboxFailed = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitUnavailable = 69;
inline constexpr int kExitIoError = 74;
inline constexpr int kExitConfig = 78;

int run_command(const CommandLine& cl);

// The EWS adapter's settings for a configuration: endpoint, batch size, and how mailboxes are
// addressed ([tenant] access).
ews::EwsSettings ews_settings(const config::Config& cfg);

}  // namespace exsync::daemon
