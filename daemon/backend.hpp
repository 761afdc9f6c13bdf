// The tenant's protocol, chosen by the configuration, and the settings each piece of the stack
// takes from it. The rest of the daemon sees only model::RemoteMailboxService.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "exsync/auth/entra_token_source.hpp"
#include "exsync/auth/token_source.hpp"
#include "exsync/config/config.hpp"
#include "exsync/ews/ews_service.hpp"
#include "exsync/ews/streaming.hpp"
#include "exsync/graph/change_notifications.hpp"
#include "exsync/http/client.hpp"
#include "exsync/model/ports.hpp"

namespace exsync::daemon {

// The EWS adapter's settings for a configuration: endpoint, batch size, and how mailboxes are
// addressed ([tenant] access).
ews::EwsSettings ews_settings(const config::Config& cfg);
// The streaming notifications' settings for the same endpoint, addressing and folders.
ews::StreamingSettings streaming_settings(const config::Config& cfg);
// Graph change notifications as [graph] notification_url and [sync] folders say.
graph::NotificationSettings notification_settings(const config::Config& cfg);
// The HTTPS client's options: [tls] ca_file, the request timeout and the answer size cap.
http::ClientOptions client_options(const config::Config& cfg);
// Entra ID sign-in: ROPC for the service account, or app-only with the client secret or
// certificate ([tenant] access = "app").
auth::RopcSettings entra_settings(const config::Config& cfg);

// The remote mailbox service for the configuration's protocol, signing in with `tokens`;
// answers are parsed on `parser`.
std::unique_ptr<model::RemoteMailboxService> make_backend(const config::Config& cfg, http::Client& client,
                                                          auth::TokenSource& tokens, net::thread_pool& parser);

}  // namespace exsync::daemon
