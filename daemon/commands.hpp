// The exsyncd commands: wiring the modules together from the configuration.
#pragma once

#include "command_line.hpp"
#include "exsync/auth/entra_token_source.hpp"
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
// The HTTPS client's options: [tls] ca_file, the request timeout and the answer size cap.
http::ClientOptions client_options(const config::Config& cfg);
// Entra ID sign-in: ROPC for the service account, or app-only with the client secret or
// certificate ([tenant] access = "app").
auth::RopcSettings entra_settings(const config::Config& cfg);

}  // namespace exsync::daemon
