#include "backend.hpp"

#include "exsync/crypto/webhook_signature.hpp"
#include "exsync/graph/graph_service.hpp"

namespace exsync::daemon {

ews::EwsSettings ews_settings(const config::Config& cfg) {
  ews::EwsSettings s{cfg.ews.url, cfg.ews.get_item_batch_size};
  if (cfg.tenant.access == config::TenantConfig::Access::delegate) s.addressing = ews::Addressing::delegate;
  return s;
}

ews::StreamingSettings streaming_settings(const config::Config& cfg) {
  ews::StreamingSettings s;
  s.url = cfg.ews.url;
  s.addressing = ews_settings(cfg).addressing;
  s.folders.clear();
  for (const auto& f : cfg.sync.folders) {
    if (auto kind = model::parse_folder(f)) s.folders.push_back(*kind);
  }
  s.connection_minutes = cfg.sync.streaming_connection_minutes;
  return s;
}

graph::NotificationSettings notification_settings(const config::Config& cfg) {
  graph::NotificationSettings s;
  s.graph_url = cfg.graph.url;
  s.notification_url = cfg.graph.notification_url;
  // The clientStates' secret: from the API's token, which only the daemon and the CRM hold, so
  // that it stays the same across restarts (the subscriptions are adopted) and changes with it.
  s.key = crypto::hmac_sha256(cfg.api.token.reveal(), "exsync graph notifications");
  s.folders = streaming_settings(cfg).folders;
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

std::unique_ptr<model::RemoteMailboxService> make_backend(const config::Config& cfg, http::Client& client,
                                                          auth::TokenSource& tokens, net::thread_pool& parser) {
  if (cfg.tenant.protocol == config::TenantConfig::Protocol::graph)
    return std::make_unique<graph::GraphService>(client, tokens, graph::GraphSettings{cfg.graph.url});
  return std::make_unique<ews::EwsService>(client, tokens, ews_settings(cfg), &parser);
}

}  // namespace exsync::daemon
