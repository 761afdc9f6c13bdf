// The exsyncd commands: wiring the modules together from the configuration.
#pragma once

#include "command_line.hpp"

namespace exsync::daemon {

// sysexits.h values, as systemd and init scripts expect them.
inline constexpr int kExitMailboxFailed = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitUnavailable = 69;
inline constexpr int kExitIoError = 74;
inline constexpr int kExitConfig = 78;

int run_command(const CommandLine& cl);

}  // namespace exsync::daemon
