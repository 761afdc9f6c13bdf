#include "exsync/config/config.hpp"

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "exsync/core/mailbox_address.hpp"
#include "exsync/core/secret_file.hpp"
#include "exsync/crypto/sealed_secret.hpp"
#include "exsync/crypto/webhook_signature.hpp"

namespace exsync::config {
namespace {

namespace fs = std::filesystem;

// Which keys each section accepts; anything else is a typo the admin should hear about.
const std::map<std::string, std::set<std::string>, std::less<>> kSchema = {
    {"tenant", {"tenant_id", "client_id", "authority", "scope", "access", "client_secret_file", "certificate_file",
                "private_key_file", "key_file", "auth", "protocol"}},
    {"service_account", {"username", "password_file", "key_file"}},
    {"ews", {"url", "request_timeout_seconds", "get_item_batch_size", "max_response_mb"}},
    {"graph", {"url", "notification_url"}},
    {"tls", {"ca_file"}},
    {"store", {"path", "keep_changes_days", "keep_conflicts_days", "keep_messages_days"}},
    {"mailboxes", {"list", "file"}},
    {"sync", {"folders", "interval_seconds", "max_concurrent_mailboxes", "conflict", "max_delete_share", "streaming",
              "safety_interval_seconds", "streaming_connection_minutes", "active_interval_seconds"}},
    {"log", {"format", "level"}},
    {"api", {"listen", "token_file"}},
    {"webhooks", {"name", "url", "secret_file", "key_file", "timeout_seconds", "failing_after", "max_retry_seconds",
                  "max_in_flight"}},
};

struct Reader {
  const toml::table& root;
  std::string file;
  fs::path base;

  Fail<ConfigError> fail(std::string key, std::string problem) const {
    return Fail{ConfigError{file, std::move(key), std::move(problem)}};
  }

  const toml::node* node(std::string_view section, std::string_view key) const {
    const auto* tbl = root[section].as_table();
    return tbl ? tbl->get(key) : nullptr;
  }

  static std::string name(std::string_view section, std::string_view key) {
    return std::string(section) + "." + std::string(key);
  }

  // Reads a string; `required` decides between an error and keeping `out`'s default.
  Result<Unit, ConfigError> str(std::string_view section, std::string_view key, std::string& out,
                                bool required) const {
    const auto* n = node(section, key);
    if (!n) {
      if (required) return fail(name(section, key), "is required but missing");
      return Unit{};
    }
    const auto* s = n->as_string();
    if (!s) return fail(name(section, key), "must be a string");
    if (required && s->get().empty()) return fail(name(section, key), "must not be empty");
    out = s->get();
    return Unit{};
  }

  Result<Unit, ConfigError> integer(std::string_view section, std::string_view key, std::int64_t lo,
                                    std::int64_t hi, std::int64_t& out) const {
    const auto* n = node(section, key);
    if (!n) return Unit{};
    const auto* i = n->as_integer();
    if (!i) return fail(name(section, key), "must be an integer");
    if (i->get() < lo || i->get() > hi)
      return fail(name(section, key),
                  "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    out = i->get();
    return Unit{};
  }

  Result<Unit, ConfigError> strings(std::string_view section, std::string_view key,
                                    std::vector<std::string>& out) const {
    const auto* n = node(section, key);
    if (!n) return Unit{};
    const auto* arr = n->as_array();
    if (!arr) return fail(name(section, key), "must be an array of strings");
    out.clear();
    for (const auto& el : *arr) {
      const auto* s = el.as_string();
      if (!s) return fail(name(section, key), "must be an array of strings");
      out.push_back(s->get());
    }
    return Unit{};
  }

  fs::path resolve(const std::string& p) const {
    if (p.empty()) return {};
    fs::path path(p);
    return path.is_absolute() ? path : (base / path).lexically_normal();
  }

  // A secret file's path: as resolve(), or "credential:NAME" for systemd's credential NAME
  // (LoadCredential=, LoadCredentialEncrypted=) in $CREDENTIALS_DIRECTORY, which systemd sets
  // for the service, so that one configuration serves every instance of a template unit.
  Result<Unit, ConfigError> secret_path(std::string_view section, std::string_view key, const std::string& p,
                                        fs::path& out) const {
    constexpr std::string_view prefix = "credential:";
    if (p.rfind(prefix, 0) != 0) {
      out = resolve(p);
      return Unit{};
    }
    const std::string credential = p.substr(prefix.size());
    if (credential.empty() || credential.find('/') != std::string::npos || credential == "." || credential == "..")
      return fail(name(section, key), "\"" + p + "\" must name a credential: credential:NAME");
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (!dir || !*dir)
      return fail(name(section, key), "\"" + p + "\" is a systemd credential, but CREDENTIALS_DIRECTORY is not set: "
                                      "exsyncd is not running under systemd with LoadCredential=" + credential);
    out = fs::path(dir) / credential;
    return Unit{};
  }
};

#define EXSYNC_TRY(expr)                     \
  do {                                       \
    auto r_ = (expr);                        \
    if (!r_) return Fail{std::move(r_).error()}; \
  } while (0)

Result<std::string, std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Fail{std::string("cannot be read: ") + std::strerror(errno)};
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Fail{std::string("cannot be read")};
  return ss.str();
}

bool is_https_url(const std::string& url) { return url.rfind("https://", 0) == 0 && url.size() > 8; }

void strip_line_break(std::string& s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
}

// A secret file's content without its trailing line break.
Result<std::string, std::string> read_secret_line(const fs::path& p) {
  auto text = read_secret_file(p);
  if (text) strip_line_break(*text);
  return text;
}

}  // namespace

std::string_view protocol_name(TenantConfig::Protocol protocol) {
  return protocol == TenantConfig::Protocol::graph ? "graph" : "ews";
}

std::string_view access_name(TenantConfig::Access access) {
  switch (access) {
    case TenantConfig::Access::app: return "app";
    case TenantConfig::Access::delegate: return "delegate";
    case TenantConfig::Access::impersonation: break;
  }
  return "impersonation";
}

int Config::max_concurrent_requests() const {
  if (tenant.access == TenantConfig::Access::delegate)
    return std::min(sync.max_concurrent_mailboxes, kAccountConnectionBudget);
  return sync.max_concurrent_mailboxes;
}

std::string TenantConfig::token_url() const {
  std::string a = authority;
  while (!a.empty() && a.back() == '/') a.pop_back();
  return a + "/" + tenant_id + "/oauth2/v2.0/token";
}

std::string ConfigError::message() const {
  std::string out = file + ": ";
  if (!key.empty()) out += key + ": ";
  return out + problem;
}

bool is_supported_folder(std::string_view name) { return name == "contacts" || name == "calendar"; }

Result<Config, ConfigError> load_config(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return Fail{ConfigError{file.string(), "", text.error()}};
  return parse_config(*text, file);
}

Result<Config, ConfigError> parse_config(std::string_view text, const fs::path& file) {
  const std::string fname = file.string();
  toml::table root;
  try {
    root = toml::parse(text, fname);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "line " << e.source().begin.line << ": " << e.description();
    return Fail{ConfigError{fname, "", msg.str()}};
  }

  Config cfg;
  cfg.source = file;
  Reader r{root, fname, fs::absolute(file).parent_path()};

  for (const auto& [section, node] : root) {
    auto it = kSchema.find(section.str());
    if (it == kSchema.end()) return r.fail(std::string(section.str()), "is not a known section");
    const auto* tbl = node.as_table();
    if (!tbl) return r.fail(std::string(section.str()), "must be a table ([section])");
    for (const auto& [key, _] : *tbl) {
      if (!it->second.contains(std::string(key.str())))
        return r.fail(Reader::name(section.str(), key.str()), "is not a known key");
    }
  }

  std::string auth = "entra";
  EXSYNC_TRY(r.str("tenant", "auth", auth, false));
  if (auth == "basic")
    cfg.tenant.basic_auth = true;
  else if (auth != "entra")
    return r.fail("tenant.auth", "\"" + auth + "\" is not one of \"entra\", \"basic\"");
  // HTTP Basic (Exchange Server without modern authentication) needs no app registration.
  EXSYNC_TRY(r.str("tenant", "tenant_id", cfg.tenant.tenant_id, !cfg.tenant.basic_auth));
  EXSYNC_TRY(r.str("tenant", "client_id", cfg.tenant.client_id, !cfg.tenant.basic_auth));
  EXSYNC_TRY(r.str("tenant", "authority", cfg.tenant.authority, false));
  EXSYNC_TRY(r.str("tenant", "scope", cfg.tenant.scope, false));
  if (!is_https_url(cfg.tenant.authority)) return r.fail("tenant.authority", "must be an https:// URL");
  if (cfg.tenant.scope.empty()) return r.fail("tenant.scope", "must not be empty");
  for (char c : cfg.tenant.tenant_id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'))
      return r.fail("tenant.tenant_id", "must be a tenant GUID or a domain name");
  }

  std::string access = "impersonation";
  EXSYNC_TRY(r.str("tenant", "access", access, false));
  if (access == "app") {
    if (cfg.tenant.basic_auth) return r.fail("tenant.access", "\"app\" needs Entra ID: it does not go with auth = \"basic\"");
    cfg.tenant.access = TenantConfig::Access::app;
  } else if (access == "delegate") {
    cfg.tenant.access = TenantConfig::Access::delegate;
  } else if (access != "impersonation") {
    return r.fail("tenant.access", "\"" + access + "\" is not one of \"impersonation\", \"app\", \"delegate\"");
  }
  const bool app = cfg.tenant.access == TenantConfig::Access::app;

  std::string protocol = "ews";
  EXSYNC_TRY(r.str("tenant", "protocol", protocol, false));
  if (protocol == "graph") {
    cfg.tenant.protocol = TenantConfig::Protocol::graph;
    if (cfg.tenant.basic_auth) return r.fail("tenant.protocol", "\"graph\" needs Entra ID: it does not go with auth = \"basic\"");
    if (cfg.tenant.access == TenantConfig::Access::impersonation)
      return r.fail("tenant.access", "protocol = \"graph\" has no impersonation: use access = \"app\" (application "
                                     "permissions scoped by RBAC for Applications) or \"delegate\" (the service "
                                     "account's .Shared permissions)");
    // Graph's scopes instead of EWS's, unless the admin named them.
    if (cfg.tenant.scope == TenantConfig{}.scope)
      cfg.tenant.scope = app ? "https://graph.microsoft.com/.default"
                             : "https://graph.microsoft.com/Contacts.ReadWrite.Shared "
                               "https://graph.microsoft.com/Calendars.ReadWrite.Shared "
                               "https://graph.microsoft.com/Mail.Send.Shared offline_access";
  } else if (protocol != "ews") {
    return r.fail("tenant.protocol", "\"" + protocol + "\" is not one of \"ews\", \"graph\"");
  }

  // A secret file (owner-only), opened with the section's key_file when sealed with `exsyncd
  // secret seal`, without its trailing line break.
  auto open_secret = [&](const std::string& setting, const fs::path& file,
                         const std::string& key_setting, const fs::path& key_file) -> Result<std::string, ConfigError> {
    auto text = read_secret_file(file);
    if (!text) return r.fail(setting, file.string() + " " + text.error());
    std::string secret = std::move(*text);
    if (crypto::is_sealed(secret)) {
      if (key_file.empty())
        return r.fail(key_setting, file.string() + " is sealed: key_file must name the key it was sealed with");
      auto key_text = read_secret_file(key_file);
      if (!key_text) return r.fail(key_setting, key_file.string() + " " + key_text.error());
      auto key = crypto::parse_key_file(*key_text);
      if (!key) return r.fail(key_setting, key_file.string() + " " + key.error().message);
      auto opened = crypto::unseal(secret, *key);
      if (!opened) return r.fail(setting, file.string() + " " + opened.error().message);
      secret = std::move(*opened);
    }
    strip_line_break(secret);
    if (secret.empty()) return r.fail(setting, file.string() + " is empty");
    return secret;
  };

  std::string tenant_key;
  EXSYNC_TRY(r.str("tenant", "key_file", tenant_key, false));
  EXSYNC_TRY(r.secret_path("tenant", "key_file", tenant_key, cfg.tenant.key_file));
  if (app) {
    // App-only: the client credentials grant asks for the resource's application permissions.
    if (cfg.tenant.scope == TenantConfig{}.scope) cfg.tenant.scope = "https://outlook.office365.com/.default";
    // The app proves itself with a client secret, or with a certificate and its private key.
    std::string secret_file, cert_file, private_key_file;
    EXSYNC_TRY(r.str("tenant", "client_secret_file", secret_file, false));
    EXSYNC_TRY(r.str("tenant", "certificate_file", cert_file, false));
    EXSYNC_TRY(r.str("tenant", "private_key_file", private_key_file, false));
    if (secret_file.empty() == cert_file.empty())
      return r.fail("tenant.client_secret_file",
                    "access = \"app\" needs either client_secret_file or certificate_file (with private_key_file)");
    if (!secret_file.empty()) {
      EXSYNC_TRY(r.secret_path("tenant", "client_secret_file", secret_file, cfg.tenant.client_secret_file));
      auto secret = open_secret("tenant.client_secret_file", cfg.tenant.client_secret_file, "tenant.key_file",
                                cfg.tenant.key_file);
      if (!secret) return Fail{std::move(secret).error()};
      cfg.tenant.client_secret = Secret(std::move(*secret));
    } else {
      if (private_key_file.empty()) return r.fail("tenant.private_key_file", "is required with certificate_file");
      cfg.tenant.certificate_file = r.resolve(cert_file);
      EXSYNC_TRY(r.secret_path("tenant", "private_key_file", private_key_file, cfg.tenant.private_key_file));
      auto pem = read_file(cfg.tenant.certificate_file);
      if (!pem) return r.fail("tenant.certificate_file", cfg.tenant.certificate_file.string() + " " + pem.error());
      auto key = open_secret("tenant.private_key_file", cfg.tenant.private_key_file, "tenant.key_file",
                             cfg.tenant.key_file);
      if (!key) return Fail{std::move(key).error()};
      auto certificate = crypto::ClientCertificate::from_pem(*pem, *key);
      if (!certificate)
        return r.fail("tenant.certificate_file", cfg.tenant.certificate_file.string() + " and " +
                                                     cfg.tenant.private_key_file.string() + ": " +
                                                     certificate.error().message);
      cfg.tenant.client_certificate = std::move(*certificate);
    }
  } else {
    for (const char* key : {"client_secret_file", "certificate_file", "private_key_file"}) {
      if (r.node("tenant", key))
        return r.fail(std::string("tenant.") + key, "is for app-only access (access = \"app\")");
    }
  }

  // The service account: ROPC's user; app-only access needs none.
  EXSYNC_TRY(r.str("service_account", "username", cfg.service_account.username, !app));
  if (auto problem = mailbox_address_problem(cfg.service_account.username); problem && !(app && cfg.service_account.username.empty()))
    return r.fail("service_account.username", "\"" + cfg.service_account.username + "\" " + *problem);
  std::string pw_file;
  EXSYNC_TRY(r.str("service_account", "password_file", pw_file, !app));
  EXSYNC_TRY(r.secret_path("service_account", "password_file", pw_file, cfg.service_account.password_file));
  std::string key_file;
  EXSYNC_TRY(r.str("service_account", "key_file", key_file, false));
  EXSYNC_TRY(r.secret_path("service_account", "key_file", key_file, cfg.service_account.key_file));
  if (!pw_file.empty()) {
    auto pw = open_secret("service_account.password_file", cfg.service_account.password_file,
                          "service_account.key_file", cfg.service_account.key_file);
    if (!pw) return Fail{std::move(pw).error()};
    cfg.service_account.password = Secret(std::move(*pw));
  }

  EXSYNC_TRY(r.str("graph", "url", cfg.graph.url, false));
  if (!is_https_url(cfg.graph.url)) return r.fail("graph.url", "must be an https:// URL");
  EXSYNC_TRY(r.str("ews", "url", cfg.ews.url, false));
  if (!is_https_url(cfg.ews.url)) return r.fail("ews.url", "must be an https:// URL");
  std::int64_t timeout = cfg.ews.request_timeout.count();
  EXSYNC_TRY(r.integer("ews", "request_timeout_seconds", 1, 3600, timeout));
  cfg.ews.request_timeout = std::chrono::seconds(timeout);
  std::int64_t batch = cfg.ews.get_item_batch_size;
  EXSYNC_TRY(r.integer("ews", "get_item_batch_size", 1, 512, batch));
  cfg.ews.get_item_batch_size = static_cast<int>(batch);
  std::int64_t max_mb = static_cast<std::int64_t>(cfg.ews.max_response_bytes >> 20);
  EXSYNC_TRY(r.integer("ews", "max_response_mb", 1, 1024, max_mb));
  cfg.ews.max_response_bytes = static_cast<std::size_t>(max_mb) << 20;

  std::string ca;
  EXSYNC_TRY(r.str("tls", "ca_file", ca, false));
  cfg.tls_ca_file = r.resolve(ca);
  if (!cfg.tls_ca_file.empty()) {
    auto pem = read_file(cfg.tls_ca_file);
    if (!pem) return r.fail("tls.ca_file", cfg.tls_ca_file.string() + " " + pem.error());
    if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      return r.fail("tls.ca_file", cfg.tls_ca_file.string() + " holds no PEM certificate");
  }

  std::string store;
  EXSYNC_TRY(r.str("store", "path", store, true));
  cfg.store_path = r.resolve(store);
  for (auto [key, days] : {std::pair{"keep_changes_days", &cfg.retention.changes_days},
                           std::pair{"keep_conflicts_days", &cfg.retention.conflicts_days},
                           std::pair{"keep_messages_days", &cfg.retention.messages_days}}) {
    std::int64_t v = *days;
    EXSYNC_TRY(r.integer("store", key, 1, 3650, v));
    *days = static_cast<int>(v);
  }

  std::set<std::string> seen;
  auto add_mailbox = [&](const std::string& raw, const std::string& where) -> Result<Unit, ConfigError> {
    if (auto problem = mailbox_address_problem(raw))
      return r.fail(where, "\"" + raw + "\" is not a valid mailbox address: it " + *problem);
    auto norm = normalize_mailbox_address(raw);
    if (seen.insert(norm).second) cfg.mailboxes.push_back(std::move(norm));
    return Unit{};
  };
  std::vector<std::string> list;
  EXSYNC_TRY(r.strings("mailboxes", "list", list));
  for (const auto& m : list) EXSYNC_TRY(add_mailbox(m, "mailboxes.list"));
  std::string mfile;
  EXSYNC_TRY(r.str("mailboxes", "file", mfile, false));
  cfg.mailboxes_file = r.resolve(mfile);
  if (!cfg.mailboxes_file.empty()) {
    auto content = read_file(cfg.mailboxes_file);
    if (!content) return r.fail("mailboxes.file", cfg.mailboxes_file.string() + " " + content.error());
    std::istringstream lines(*content);
    std::string line;
    int n = 0;
    while (std::getline(lines, line)) {
      ++n;
      if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
      const auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos) continue;
      const auto last = line.find_last_not_of(" \t\r");
      EXSYNC_TRY(add_mailbox(line.substr(first, last - first + 1),
                             "mailboxes.file (" + cfg.mailboxes_file.string() + " line " +
                                 std::to_string(n) + ")"));
    }
  }
  if (!r.node("mailboxes", "list") && !r.node("mailboxes", "file"))
    return r.fail("mailboxes", "needs \"list\" or \"file\"");

  EXSYNC_TRY(r.strings("sync", "folders", cfg.sync.folders));
  if (cfg.sync.folders.empty()) return r.fail("sync.folders", "must name at least one folder");
  for (const auto& f : cfg.sync.folders) {
    if (!is_supported_folder(f))
      return r.fail("sync.folders", "\"" + f + "\" is not a folder this version syncs (supported: \"contacts\", \"calendar\")");
  }
  std::int64_t interval = cfg.sync.interval.count();
  EXSYNC_TRY(r.integer("sync", "interval_seconds", 1, 86400, interval));
  cfg.sync.interval = std::chrono::seconds(interval);
  std::int64_t conc = cfg.sync.max_concurrent_mailboxes;
  EXSYNC_TRY(r.integer("sync", "max_concurrent_mailboxes", 1, 1024, conc));
  cfg.sync.max_concurrent_mailboxes = static_cast<int>(conc);
  std::string conflict = "remote-wins";
  EXSYNC_TRY(r.str("sync", "conflict", conflict, false));
  if (conflict != "remote-wins" && conflict != "local-wins")
    return r.fail("sync.conflict", "\"" + conflict + "\" is not one of \"remote-wins\", \"local-wins\"");
  cfg.sync.local_wins = conflict == "local-wins";
  if (const auto* n = r.node("sync", "streaming")) {
    const auto v = n->value<bool>();
    if (!v || !n->is_boolean()) return r.fail("sync.streaming", "must be true or false");
    cfg.sync.streaming = *v;
  }
  std::int64_t safety = cfg.sync.safety_interval.count();
  EXSYNC_TRY(r.integer("sync", "safety_interval_seconds", 60, 86400, safety));
  cfg.sync.safety_interval = std::chrono::seconds(safety);
  std::int64_t minutes = cfg.sync.streaming_connection_minutes;
  EXSYNC_TRY(r.integer("sync", "streaming_connection_minutes", 1, 30, minutes));
  cfg.sync.streaming_connection_minutes = static_cast<int>(minutes);
  std::int64_t active = -1;
  EXSYNC_TRY(r.integer("sync", "active_interval_seconds", 0, 86400, active));
  if (active < 0) {
    active = cfg.tenant.protocol == TenantConfig::Protocol::graph && cfg.sync.interval > std::chrono::seconds(60) ? 60 : 0;
  } else if (active > cfg.sync.interval.count()) {
    return r.fail("sync.active_interval_seconds", "must not exceed interval_seconds (" +
                                                      std::to_string(cfg.sync.interval.count()) + ")");
  }
  cfg.sync.active_interval = std::chrono::seconds(active);
  if (const auto* n = r.node("sync", "max_delete_share")) {
    const auto v = n->value<double>();
    if (!v || *v <= 0.0 || *v > 1.0)
      return r.fail("sync.max_delete_share", "must be a number greater than 0 and at most 1 (1 turns the guard off)");
    cfg.sync.max_delete_share = *v;
  }

  if (root.contains("api")) {
    cfg.api.enabled = true;
    std::string listen = "127.0.0.1:8750";
    EXSYNC_TRY(r.str("api", "listen", listen, false));
    if (listen.rfind("unix:", 0) == 0) {
      cfg.api.unix_socket = r.resolve(listen.substr(5));
      if (listen.size() == 5 || cfg.api.unix_socket.string().size() > 100)
        return r.fail("api.listen", "\"" + listen + "\" needs a socket path of at most 100 bytes after \"unix:\"");
    }
    const auto colon = listen.rfind(':');
    std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
    if (cfg.api.unix_socket.empty() &&
        (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
         std::stoi(port) > 65535))
      return r.fail("api.listen", "\"" + listen +
                                      "\" is not ADDRESS:PORT or unix:PATH (e.g. \"127.0.0.1:8750\", \"[::1]:8750\", "
                                      "\"unix:/run/exsync/api.sock\")");
    if (cfg.api.unix_socket.empty()) {
      cfg.api.address = host;
      cfg.api.port = static_cast<unsigned short>(std::stoi(port));
    }
    std::string token_file;
    EXSYNC_TRY(r.str("api", "token_file", token_file, true));
    EXSYNC_TRY(r.secret_path("api", "token_file", token_file, cfg.api.token_file));
    auto token = read_secret_line(cfg.api.token_file);
    if (!token) return r.fail("api.token_file", cfg.api.token_file.string() + " " + token.error());
    if (token->size() < 16)
      return r.fail("api.token_file", cfg.api.token_file.string() + " must hold a token of 16 characters or more");
    cfg.api.token = Secret(std::move(*token));
  }

  EXSYNC_TRY(r.str("graph", "notification_url", cfg.graph.notification_url, false));
  if (const auto& url = cfg.graph.notification_url; !url.empty()) {
    if (!is_https_url(url) || url.size() > 2048 || url.find_first_of("?# \t\r\n") != std::string::npos)
      return r.fail("graph.notification_url",
                    "must be a public https:// URL without query or fragment (Graph adds ?validationToken=)");
    if (cfg.tenant.protocol != TenantConfig::Protocol::graph)
      return r.fail("graph.notification_url", "is for protocol = \"graph\"; an EWS tenant streams its notifications "
                                              "([sync] streaming)");
    if (cfg.tenant.access != TenantConfig::Access::app)
      return r.fail("graph.notification_url", "needs access = \"app\": Graph sends no change notifications for the "
                                              "delegated .Shared permissions");
    if (!cfg.api.enabled)
      return r.fail("graph.notification_url", "needs [api]: Graph's notifications arrive at the daemon's listener, "
                                              "path " + std::string(GraphConfig::kNotificationPath));
  }

  if (root.contains("webhooks")) {
    auto& w = cfg.webhooks;
    w.enabled = true;
    EXSYNC_TRY(r.str("webhooks", "name", w.name, false));
    if (w.name.empty() || w.name.size() > 64 ||
        w.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
      return r.fail("webhooks.name", "\"" + w.name + "\" must be 1 to 64 of a-z, 0-9, _ and -");
    EXSYNC_TRY(r.str("webhooks", "url", w.url, true));
    if (!is_https_url(w.url)) return r.fail("webhooks.url", "must be an https:// URL (deliveries carry the CRM's data)");
    std::string secret_file, key_file;
    EXSYNC_TRY(r.str("webhooks", "secret_file", secret_file, true));
    EXSYNC_TRY(r.secret_path("webhooks", "secret_file", secret_file, w.secret_file));
    EXSYNC_TRY(r.str("webhooks", "key_file", key_file, false));
    EXSYNC_TRY(r.secret_path("webhooks", "key_file", key_file, w.key_file));
    auto secret = open_secret("webhooks.secret_file", w.secret_file, "webhooks.key_file", w.key_file);
    if (!secret) return Fail{std::move(secret).error()};
    auto key = crypto::parse_webhook_secret(*secret);
    if (!key) return r.fail("webhooks.secret_file", w.secret_file.string() + " " + key.error());
    w.key = Secret(std::move(*key));
    std::int64_t timeout = w.timeout.count(), failing = w.failing_after, max_retry = w.max_retry.count(),
                 in_flight = w.max_in_flight;
    EXSYNC_TRY(r.integer("webhooks", "timeout_seconds", 1, 300, timeout));
    EXSYNC_TRY(r.integer("webhooks", "failing_after", 1, 1000, failing));
    EXSYNC_TRY(r.integer("webhooks", "max_retry_seconds", 1, 86400, max_retry));
    EXSYNC_TRY(r.integer("webhooks", "max_in_flight", 1, 64, in_flight));
    w.timeout = std::chrono::seconds(timeout);
    w.failing_after = static_cast<int>(failing);
    w.max_retry = std::chrono::seconds(max_retry);
    w.max_in_flight = static_cast<int>(in_flight);
  }

  std::string fmt = "logfmt", lvl = "info";
  EXSYNC_TRY(r.str("log", "format", fmt, false));
  if (!log::parse_format(fmt, cfg.log_format))
    return r.fail("log.format", "\"" + fmt + "\" is not one of \"logfmt\", \"json\"");
  EXSYNC_TRY(r.str("log", "level", lvl, false));
  if (!log::parse_level(lvl, cfg.log_level))
    return r.fail("log.level", "\"" + lvl + "\" is not one of \"debug\", \"info\", \"warn\", \"error\"");

  return cfg;
}

}  // namespace exsync::config
