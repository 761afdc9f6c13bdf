// The daemon's configuration: a TOML file, validated whole before anything starts.
//
// load_config() either returns a complete, valid Config or one ConfigError naming the file, the
// key and what is wrong; the daemon prints it as one line and exits with EX_CONFIG (78).
// Relative paths in the file are resolved against the file's own folder. The service account's
// password file is read here, so that an unreadable one stops start-up.
// See config/exsync.toml.example for every key and its default.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/crypto/client_assertion.hpp"
#include "exsync/log/log.hpp"

namespace exsync::config {

// A secret that does not print itself: reveal() is the only way to read it. Its memory is wiped
// when it goes, so that it lingers no longer than needed.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret& other) {
    if (this != &other) {
      wipe();
      value_ = other.value_;
    }
    return *this;
  }
  Secret(Secret&&) noexcept = default;
  Secret& operator=(Secret&& other) noexcept {
    wipe();
    value_ = std::move(other.value_);
    return *this;
  }
  ~Secret() { wipe(); }
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  void wipe() {
    // Through a volatile pointer, so that the compiler cannot drop the stores as dead.
    volatile char* p = value_.data();
    for (std::size_t i = 0; i < value_.size(); ++i) p[i] = 0;
    value_.clear();
  }
  std::string value_;
};

struct TenantConfig {
  // The protocol exsync speaks with the mailboxes: Exchange Web Services, or Microsoft Graph
  // (Exchange Online, where EWS is retired). Graph reaches mailboxes with access = "app" (RBAC
  // for Applications scopes it) or "delegate" (the service account's .Shared permissions).
  enum class Protocol { ews, graph };
  Protocol protocol = Protocol::ews;
  std::string tenant_id;
  std::string client_id;
  std::string authority = "https://login.microsoftonline.com";
  std::string scope = "https://outlook.office365.com/EWS.AccessAsUser.All offline_access";
  // How exsync reaches the agents' mailboxes:
  //  - impersonation: the service account's delegated token (ROPC) with ExchangeImpersonation;
  //  - app: an app-only token (client credentials, application permission full_access_as_app),
  //    still with ExchangeImpersonation;
  //  - delegate: the service account's delegated token and its FullAccess on each mailbox, no
  //    impersonation; every request is then charged to the service account's own EWS budget.
  enum class Access { impersonation, app, delegate };
  // `auth = "basic"`: HTTP Basic with the service account's name and password over TLS, for
  // Exchange Server on-premises without modern authentication; no Entra ID at all.
  bool basic_auth = false;
  Access access = Access::impersonation;
  std::filesystem::path client_secret_file;  // app: the client secret (plain or sealed)
  Secret client_secret;
  // app, instead of a client secret: the certificate uploaded to the app registration and its
  // RSA private key (plain PEM or sealed), for a signed client assertion.
  std::filesystem::path certificate_file;
  std::filesystem::path private_key_file;
  std::optional<crypto::ClientCertificate> client_certificate;
  std::filesystem::path key_file;  // the key sealed client_secret_file / private_key_file open with
  // {authority}/{tenant_id}/oauth2/v2.0/token
  std::string token_url() const;
};

// "ews", "graph".
std::string_view protocol_name(TenantConfig::Protocol protocol);
// "impersonation", "app", "delegate": the configuration's spelling.
std::string_view access_name(TenantConfig::Access access);

struct ServiceAccountConfig {
  std::string username;
  std::filesystem::path password_file;  // plain, or sealed with `exsyncd secret seal`
  std::filesystem::path key_file;       // the key a sealed password_file opens with
  Secret password;  // the password, trailing newline removed
};

struct GraphConfig {
  std::string url = "https://graph.microsoft.com/v1.0";  // national clouds and the simulator differ
  // Change notifications (optional): the public https:// URL Graph POSTs them to, which the
  // operator's reverse proxy forwards to the daemon's listener at kNotificationPath. Empty: the
  // tenant polls delta (adaptively, [sync] active_interval_seconds).
  std::string notification_url;
  static constexpr std::string_view kNotificationPath = "/v1/graph/notifications";
};

struct EwsConfig {
  std::string url = "https://outlook.office365.com/EWS/Exchange.asmx";
  std::chrono::seconds request_timeout{60};
  int get_item_batch_size = 128;
  // Answers larger than this are refused before they are read whole (a broken or hostile server
  // must not exhaust memory); GetItem batches of 128 large items stay far below the default.
  std::size_t max_response_bytes = 64u << 20;
};

// How long the store keeps what only history needs ([store] keys, in days).
struct RetentionConfig {
  int changes_days = 30;    // the CRM's changes feed (a cursor older than that answers 410)
  int conflicts_days = 90;  // conflicts' losing versions
  int messages_days = 30;   // sent and failed messages, with their attachments
};

struct SyncConfig {
  std::vector<std::string> folders{"contacts"};
  std::chrono::seconds interval{300};
  int max_concurrent_mailboxes = 8;
  bool local_wins = false;  // conflict = "local-wins"; the default is "remote-wins"
  double max_delete_share = 0.5;
  // EWS streaming notifications: a change is synced within seconds, and the poll of a mailbox
  // whose notifications flow is only a safety net, every `safety_interval`.
  bool streaming = true;
  std::chrono::seconds safety_interval{1800};
  int streaming_connection_minutes = 30;  // GetStreamingEvents ConnectionTimeout, 1..30
  // Adaptive polling (Graph, and EWS mailboxes on polling): a mailbox whose sync brought changes
  // is polled again after this, the wait doubling back up to `interval`. 0: off. Unset: 60 s for
  // a Graph tenant whose interval is longer, else off.
  std::chrono::seconds active_interval{0};
};

// The CRM's local API; disabled when the configuration has no [api] section.
struct ApiConfig {
  bool enabled = false;
  std::string address = "127.0.0.1";  // an IP address; loopback unless told otherwise
  unsigned short port = 8750;
  std::filesystem::path unix_socket;  // listen = "unix:PATH": a Unix socket instead of TCP
  std::filesystem::path token_file;
  Secret token;  // the bearer token every request must carry
};

// Webhooks to the CRM ([webhooks]): every entry of the changes feed POSTed to `url`, signed as
// Standard Webhooks defines; disabled when the configuration has no [webhooks] section.
struct WebhookConfig {
  bool enabled = false;
  std::string name = "crm";  // the endpoint's durable cursor is kept under this name
  std::string url;           // https://
  std::filesystem::path secret_file;  // "whsec_..." (plain, sealed, or credential:NAME)
  std::filesystem::path key_file;     // the key a sealed secret_file opens with
  Secret key;                         // the secret's key bytes
  std::chrono::seconds timeout{10};   // per delivery
  int failing_after = 5;              // failed deliveries in a row that mark the endpoint failing
  std::chrono::seconds max_retry{600};  // the longest wait between two attempts
  int max_in_flight = 8;                // mailboxes delivered to at once (each in its feed order)
};

struct Config {
  std::filesystem::path source;  // the file this came from
  TenantConfig tenant;
  ServiceAccountConfig service_account;
  EwsConfig ews;
  GraphConfig graph;
  std::filesystem::path tls_ca_file;  // empty: system trust store only
  std::filesystem::path store_path;
  RetentionConfig retention;
  std::vector<std::string> mailboxes;  // normalised, de-duplicated, in order of appearance
  std::filesystem::path mailboxes_file;
  SyncConfig sync;
  ApiConfig api;
  WebhookConfig webhooks;
  log::Format log_format = log::Format::logfmt;
  log::Level log_level = log::Level::info;

  // How many EWS requests may be in flight at once: max_concurrent_mailboxes, capped under
  // delegate access to the service account's budget of concurrent connections.
  int max_concurrent_requests() const;
};

// Exchange Online's limit of concurrent EWS connections per account (ErrorExceededConnectionCount
// beyond it). Under delegate access every request counts against the service account's.
inline constexpr int kAccountConnectionBudget = 27;

struct ConfigError {
  std::string file;
  std::string key;      // "section.key", or empty when the problem is the file as a whole
  std::string problem;  // plain words, no secrets
  // "FILE: KEY: PROBLEM", the one line start-up prints.
  std::string message() const;
};

Result<Config, ConfigError> load_config(const std::filesystem::path& file);
// The same for the file's text; `file` names it in errors and anchors its relative paths.
Result<Config, ConfigError> parse_config(std::string_view text, const std::filesystem::path& file);

// The folders exsync knows how to sync in this version.
bool is_supported_folder(std::string_view name);

}  // namespace exsync::config
