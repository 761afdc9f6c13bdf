#include "verify.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <random>

#include "backend.hpp"
#include "commands.hpp"
#include "exsync/auth/basic_credentials.hpp"
#include "exsync/auth/entra_token_source.hpp"
#include "exsync/config/config.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/crypto/base64.hpp"
#include "exsync/ews/ews_service.hpp"
#include "exsync/graph/graph_service.hpp"
#include "exsync/http/client.hpp"
#include "exsync/log/log.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"

namespace exsync::daemon {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

enum class Outcome { pass, fail, skipped };

struct Step {
  std::string id;     // stable, for --json
  std::string title;  // for people
  Outcome outcome = Outcome::skipped;
  std::string detail;  // what was found
  std::string advice;  // for a FAIL: what to fix, in the setup's words
};

class Checklist {
 public:
  Step& add(std::string id, std::string title) {
    steps_.push_back(Step{std::move(id), std::move(title)});
    return steps_.back();
  }
  Step& pass(Step& s, std::string detail) {
    s.outcome = Outcome::pass;
    s.detail = std::move(detail);
    return s;
  }
  Step& fail(Step& s, std::string detail, std::string advice) {
    s.outcome = Outcome::fail;
    s.detail = std::move(detail);
    s.advice = std::move(advice);
    return s;
  }
  bool passed() const {
    for (const auto& s : steps_)
      if (s.outcome != Outcome::pass) return false;
    return true;
  }
  const std::deque<Step>& steps() const { return steps_; }
  Step* find(std::string_view id) {
    for (auto& s : steps_)
      if (s.id == id) return &s;
    return nullptr;
  }

 private:
  std::deque<Step> steps_;  // references stay valid as steps are added
};

// The claims of a JWT (the middle part, base64url); nullopt when the token is not one.
std::optional<json::object> jwt_claims(const std::string& token) {
  const auto a = token.find('.');
  const auto b = a == std::string::npos ? a : token.find('.', a + 1);
  if (b == std::string::npos) return std::nullopt;
  auto out = crypto::base64url_decode(std::string_view(token).substr(a + 1, b - a - 1));
  if (!out) return std::nullopt;
  json::error_code ec;
  auto v = json::parse(*out, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

bool has_word(std::string_view list, std::string_view word) {
  std::size_t pos = 0;
  while (pos < list.size()) {
    auto end = list.find(' ', pos);
    if (end == std::string_view::npos) end = list.size();
    if (list.substr(pos, end - pos) == word) return true;
    pos = end + 1;
  }
  return false;
}

// What an EWS error means for the setup.
std::string remote_advice(const model::RemoteError& e, const std::string& mailbox, bool delegate = false) {
  using K = model::RemoteErrorKind;
  switch (e.kind) {
    case K::network:
      return "The EWS endpoint could not be reached. Check [ews] url, the network path and proxy to it, and, "
             "for a private CA, [tls] ca_file.";
    case K::unreachable:
      return "The EWS endpoint's host name does not resolve. Check [ews] url and this machine's DNS.";
    case K::tls:
      return "The TLS handshake with the EWS endpoint failed: its certificate is not trusted or not for that "
             "host. For a private CA, set [tls] ca_file; check that [ews] url names the server's own host.";
    case K::too_large:
      return "Exchange's answer was larger than [ews] max_response_mb; raise it, or lower [ews] get_item_batch_size.";
    case K::setup:
      return "The HTTPS client could not be set up: check [ews] url and [tls] ca_file.";
    case K::unauthorized:
      return "Exchange refused the access token. Grant admin consent for the delegated permission "
             "EWS.AccessAsUser.All (Office 365 Exchange Online) in the app registration.";
    case K::impersonation_denied:
      return "The service account may not impersonate " + mailbox +
             ". Assign it the ApplicationImpersonation role (Exchange Server, or an impersonation scope "
             "covering the agents' mailboxes). Exchange Online removed that role in February 2025: there, "
             "use app-only access ([tenant] access = \"app\" with the application permission full_access_as_app).";
    case K::mailbox_not_found:
      return "There is no mailbox " + mailbox + ". Check the test mailbox's primary SMTP address, and that it "
             "has an Exchange licence.";
    case K::access_denied:
      if (e.code == "HTTP403")
        return "Exchange refused EWS to this application. Exchange Online blocks EWS by default since October "
               "2026: allow it for the organisation (Set-OrganizationConfig -EwsEnabled $true) and add the "
               "application to the EWS allow list (EwsApplicationAccessPolicy / EwsAllowList).";
      if (delegate && e.code == "ErrorAccessDenied")
        return "The service account has no FullAccess on " + mailbox + ". Grant it: Add-MailboxPermission -Identity " +
               mailbox + " -User <service account> -AccessRights FullAccess -AutoMapping $false; to send mail, also "
               "Add-RecipientPermission -Identity " + mailbox + " -Trustee <service account> -AccessRights SendAs.";
      return "The service account may not read this folder. Check its permissions on " + mailbox + ".";
    case K::throttled:
      return "Exchange is throttling the service account; try again in a few minutes.";
    case K::auth:
      return "No access token could be obtained; see the token step.";
    default:
      return "Exchange answered with an error; the detail says which.";
  }
}

// What fixes a Graph refusal, in the setup's words.
std::string graph_advice(const model::RemoteError& e, const std::string& mailbox, bool app) {
  using K = model::RemoteErrorKind;
  switch (e.kind) {
    case K::network:
      return "Microsoft Graph could not be reached. Check [graph] url, the network path and proxy to it.";
    case K::unreachable:
      return "The Graph host name does not resolve. Check [graph] url and this machine's DNS.";
    case K::tls:
      return "The TLS handshake with Graph failed; a proxy that inspects TLS needs its CA in [tls] ca_file.";
    case K::unauthorized:
      return app ? "Graph refused the access token. Add the Microsoft Graph application permissions "
                   "Contacts.ReadWrite, Mail.ReadWrite and Mail.Send to the app registration and grant admin consent."
                 : "Graph refused the access token. Add the delegated Microsoft Graph permissions "
                   "Contacts.ReadWrite.Shared and Mail.Send.Shared and grant admin consent; check [tenant] scope.";
    case K::access_denied:
      return app ? "The application may not reach " + mailbox +
                       ": RBAC for Applications scopes it to other mailboxes (or an application access policy "
                       "leaves this one out). Add the mailbox to the app's management scope "
                       "(New-ManagementScope -RecipientRestrictionFilter ..., then New-ManagementRoleAssignment -App "
                       "<client id> -Role \"Application Contacts.ReadWrite\" -CustomResourceScope <scope>), and "
                       "check Get-ApplicationAccessPolicy."
                 : "The service account may not open " + mailbox +
                       "'s folders over Graph: the agent must share the contacts folder with it (delegated Graph "
                       "access reaches only shared folders); app-only access ([tenant] access = \"app\") needs no sharing.";
    case K::mailbox_not_found:
      return "There is no mailbox " + mailbox + ". Check the test mailbox's primary SMTP address, and that it "
             "has an Exchange Online licence.";
    case K::throttled:
      return "Graph is throttling the application; try again in a few minutes.";
    case K::auth:
      return "No access token could be obtained; see the token step.";
    default:
      return "Graph answered with an error; the detail says which.";
  }
}

struct Verifier {
  const CommandLine& cl;
  Checklist list;
  bool delegate = false;  // [tenant] access = "delegate"
  bool graph = false;     // [tenant] protocol = "graph"
  bool notifications = false;  // [graph] notification_url

  // Every step, in order, so that a checklist cut short shows what was not tried.
  void declare(const std::string& mailbox) {
    list.add("configuration_readable", "configuration readable");
    list.add("token_endpoint_reachable", "token endpoint reachable");
    list.add("token_acquired", "token acquired");
    if (graph) {
      list.add("token_scope", "token carries the Microsoft Graph permissions");
      list.add("graph_reachable", "Microsoft Graph reachable");
      list.add("mailbox_allowed", delegate ? mailbox + "'s folders shared with the service account"
                                           : mailbox + " within the application's scope (RBAC for Applications)");
      list.add("contacts_readable", "contacts readable");
      list.add("calendar_readable", "calendar readable");
      if (cl.write_test) list.add("write_test", "create and delete a tagged contact");
      if (notifications) list.add("notifications_reachable", "Graph's change notifications reach exsyncd");
      return;
    }
    list.add("token_scope", "token carries the EWS permission");
    list.add("ews_reachable", "EWS reachable");
    if (delegate)
      list.add("delegate_access_allowed", "FullAccess on " + mailbox + " (delegate access)");
    else
      list.add("impersonation_allowed", "impersonation of " + mailbox + " allowed");
    list.add("contacts_readable", "contacts readable");
    list.add("calendar_readable", "calendar readable");
    if (cl.write_test) list.add("write_test", "create and delete a tagged contact");
  }

  Task<void> run(config::Config& cfg, net::io_context& io) {
    const std::string mailbox = normalize_mailbox_address(cl.mailbox);
    auto& reach = *list.find("token_endpoint_reachable");
    auto& token = *list.find("token_acquired");
    auto& scope = *list.find("token_scope");
    auto& contacts = *list.find("contacts_readable");
    Step* write = list.find("write_test");
    // The EWS checklist's own steps (absent from Graph's).
    Step* ews_reach = list.find("ews_reachable");
    Step* impersonate = list.find(delegate ? "delegate_access_allowed" : "impersonation_allowed");
    Step* calendar = list.find("calendar_readable");

    auto opts = client_options(cfg);
    opts.timeout = std::min(cfg.ews.request_timeout, std::chrono::seconds(30));
    opts.user_agent += " verify";
    auto client = http::Client::create(io.get_executor(), opts);
    if (!client) {
      list.fail(reach, client.error().message, "Fix [tls] ca_file: it must be a readable PEM file of CA certificates.");
      co_return;
    }
    client_ = std::move(*client);
    const bool app = cfg.tenant.access == config::TenantConfig::Access::app;
    if (cfg.tenant.basic_auth) {
      // Exchange Server without modern authentication: no token, the password goes with each request.
      // (Named arrays, not braced lists: GCC 12 mishandles initializer lists in coroutines.)
      const std::array<Step*, 3> unused{&reach, &token, &scope};
      for (auto* step : unused) list.pass(*step, "not used: [tenant] auth = \"basic\"");
      auth::BasicCredentials basic(cfg.service_account.username, cfg.service_account.password.reveal());
      co_await check_ews(cfg, basic, mailbox, *ews_reach, *impersonate, contacts, *calendar, write);
      co_return;
    }
    auth::EntraTokenSource tokens(io.get_executor(), *client_, MonotonicClock::instance(), entra_settings(cfg));
    auto t = co_await tokens.access_token();
    if (!t) {
      const auto& e = t.error();
      if (e.kind == auth::AuthErrorKind::network) {
        const bool tls = e.description.find("certificate") != std::string::npos ||
                         e.description.find("TLS") != std::string::npos;
        list.fail(reach, cfg.tenant.token_url() + ": " + e.description,
                  tls ? "The server's TLS certificate was not accepted. exsync trusts the system's CAs and "
                        "[tls] ca_file; a proxy that inspects TLS needs its CA there. Verification cannot be "
                        "turned off."
                      : std::string(e.advice()));
        co_return;
      }
      list.pass(reach, cfg.tenant.token_url());
      std::string what = std::string(auth::auth_error_kind_name(e.kind));
      if (e.aadsts != 0) what += " (AADSTS" + std::to_string(e.aadsts) + ")";
      if (!e.description.empty()) what += ": " + e.description;
      list.fail(token, what, std::string(e.advice()));
      co_return;
    }
    list.pass(reach, cfg.tenant.token_url());
    list.pass(token, app ? "app-only, for client " + cfg.tenant.client_id : "for " + cfg.service_account.username);
    if (graph) {
      co_await check_graph(cfg, tokens, *t, mailbox, app);
      co_return;
    }

    if (auto claims = jwt_claims(*t)) {
      const auto text = [&](const char* key) {
        auto* v = claims->if_contains(key);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
      };
      bool role = false;
      if (auto* roles = claims->if_contains("roles"); roles && roles->is_array())
        for (const auto& r : roles->as_array()) role |= r.is_string() && r.as_string() == "full_access_as_app";
      const auto scp = text("scp");
      if (app ? role : has_word(scp, "EWS.AccessAsUser.All"))
        list.pass(scope, role ? "role full_access_as_app" : "scope EWS.AccessAsUser.All, audience " + text("aud"));
      else
        list.fail(scope, app ? "the token has no role full_access_as_app" : "the token's scope is \"" + scp + "\"",
                  app ? "Add the application permission full_access_as_app (Office 365 Exchange Online) to the "
                        "app registration and grant admin consent."
                      : "Add the delegated permission EWS.AccessAsUser.All (Office 365 Exchange Online) to the app "
                        "registration and grant admin consent; check [tenant] scope.");
    } else {
      list.fail(scope, "the access token is not a JWT", "Check [tenant] authority: it must be Entra ID's.");
    }
    if (scope.outcome == Outcome::fail) co_return;

    co_await check_ews(cfg, tokens, mailbox, *ews_reach, *impersonate, contacts, *calendar, write);
  }

  std::unique_ptr<http::Client> client_;

  // The Graph checklist after the token: its permissions, the mailbox within reach, a read of
  // the contacts into a scratch store, the optional write test.
  Task<void> check_graph(config::Config& cfg, auth::TokenSource& tokens, const std::string& token,
                         const std::string& mailbox, bool app) {
    auto& scope = *list.find("token_scope");
    auto& reach = *list.find("graph_reachable");
    auto& allowed = *list.find("mailbox_allowed");
    auto& contacts = *list.find("contacts_readable");
    auto& calendar = *list.find("calendar_readable");
    Step* write = list.find("write_test");
    auto claims = jwt_claims(token);
    if (!claims) {
      list.fail(scope, "the access token is not a JWT", "Check [tenant] authority: it must be Entra ID's.");
      co_return;
    }
    // App-only tokens carry application permissions (roles); delegated ones scopes (scp).
    std::vector<std::string> granted;
    if (auto* roles = claims->if_contains("roles"); roles && roles->is_array())
      for (const auto& r : roles->as_array())
        if (r.is_string()) granted.emplace_back(r.as_string());
    if (auto* scp = claims->if_contains("scp"); scp && scp->is_string()) {
      std::string words(scp->as_string());
      for (std::size_t at = 0; at < words.size();) {
        auto end = words.find(' ', at);
        if (end == std::string::npos) end = words.size();
        if (end > at) granted.push_back(words.substr(at, end - at));
        at = end + 1;
      }
    }
    const auto has = [&](const std::string& p) { return std::find(granted.begin(), granted.end(), p) != granted.end(); };
    const std::vector<std::string> needed =
        app ? std::vector<std::string>{"Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.ReadWrite", "Mail.Send"}
            : std::vector<std::string>{"Contacts.ReadWrite.Shared", "Calendars.ReadWrite.Shared", "Mail.Send.Shared"};
    std::string missing;
    for (const auto& p : needed)
      if (!has(p)) missing += (missing.empty() ? "" : ", ") + p;
    if (!missing.empty()) {
      list.fail(scope, "the token lacks " + missing,
                app ? "Add the Microsoft Graph application permissions " + missing +
                          " to the app registration and grant admin consent."
                    : "Add the delegated Microsoft Graph permissions " + missing +
                          " to the app registration, grant admin consent, and check [tenant] scope.");
      co_return;
    }
    std::string detail = app ? "roles" : "scopes";
    for (const auto& p : needed) detail += " " + p;
    if (app && !has("User.Read.All"))
      detail += "; without User.Read.All, a store synced over EWS cannot switch to Graph (translateExchangeIds)";
    list.pass(scope, detail);

    graph::GraphService service(*client_, tokens, graph::GraphSettings{cfg.graph.url});
    auto probe = co_await service.count(mailbox, model::FolderKind::contacts);
    if (!probe) {
      const auto& e = probe.error();
      using K = model::RemoteErrorKind;
      const std::string what = e.message + (e.code.empty() ? "" : " (" + e.code + ")");
      if (e.kind == K::network || e.kind == K::unreachable || e.kind == K::tls || e.kind == K::unauthorized ||
          e.kind == K::protocol || e.kind == K::server || e.kind == K::setup) {
        list.fail(reach, cfg.graph.url + ": " + what, graph_advice(e, mailbox, app));
        co_return;
      }
      list.pass(reach, cfg.graph.url);
      list.fail(allowed, what, graph_advice(e, mailbox, app));
      co_return;
    }
    list.pass(reach, cfg.graph.url);
    list.pass(allowed, std::to_string(*probe) + " contacts in the folder");

    const auto advice = [&](const model::RemoteError& e) { return graph_advice(e, mailbox, app); };
    const std::vector<std::pair<model::FolderKind, Step*>> folders{{model::FolderKind::contacts, &contacts},
                                                                   {model::FolderKind::calendar, &calendar}};
    co_await read_into_scratch_store(service, mailbox, folders, advice);
    if (write) co_await write_test(service, mailbox, *write, advice);
    if (Step* notify = list.find("notifications_reachable")) {
      if (write && write->outcome != Outcome::pass) co_return;
      if (calendar.outcome != Outcome::pass || contacts.outcome != Outcome::pass) co_return;
      graph::ChangeNotifications hints(*client_, tokens, notification_settings(cfg));
      auto probe_result = co_await hints.probe(mailbox);
      if (probe_result) {
        list.pass(*notify, "Graph accepted a subscription to " + cfg.graph.notification_url +
                               " once its validation request reached exsyncd (deleted again)");
      } else {
        const auto& e = probe_result.error();
        const std::string what = e.message + (e.code.empty() ? "" : " (" + e.code + ")");
        list.fail(*notify, what,
                  e.kind == model::RemoteErrorKind::invalid_item
                      ? "Graph's validation request to [graph] notification_url did not come back from exsyncd. "
                        "This check needs `exsyncd run` running with [api]; the URL must be public HTTPS with a "
                        "certificate Graph trusts, and forward to the listener's /v1/graph/notifications "
                        "(README: \"Graph change notifications\")."
                      : graph_advice(e, mailbox, app));
      }
    }
  }

  // A read-only sync of `folders` into a scratch store, as the daemon's first pass would do it,
  // each folder's step passed or failed with `advice` for a remote refusal; the store is removed
  // afterwards.
  template <typename Advice>
  Task<void> read_into_scratch_store(model::RemoteMailboxService& remote, const std::string& mailbox,
                                     const std::vector<std::pair<model::FolderKind, Step*>>& folders, Advice advice) {
    std::random_device rd;
    const auto scratch = fs::temp_directory_path() / ("exsync-verify-" + std::to_string(rd()));
    fs::create_directories(scratch);
    {
      auto store = store::SqliteStore::open(scratch / "verify.db");
      if (!store) {
        list.fail(*folders.front().second, store.error().message,
                  "The scratch store could not be created in " + fs::temp_directory_path().string() + ".");
      } else {
        net::thread_pool pool(1);
        sync::SyncEngine engine(remote, **store, pool);
        for (const auto& [folder, step] : folders) {
          auto r = co_await engine.sync_folder(mailbox, folder);
          if (r)
            list.pass(*step, std::to_string(r->created) + " items read");
          else
            list.fail(*step, std::string(r.error().reason()) + ": " + r.error().message(),
                      r.error().kind == sync::SyncError::Kind::remote ? advice(r.error().remote)
                                                                      : "The scratch store failed.");
        }
        pool.join();
      }
    }
    std::error_code ec;
    fs::remove_all(scratch, ec);
  }

  // Creates one tagged contact and deletes it again.
  template <typename Advice>
  Task<void> write_test(model::RemoteMailboxService& remote, const std::string& mailbox, Step& write, Advice advice) {
    model::Contact c;
    c.display_name = "exsync verify (safe to delete)";
    std::random_device rd;
    const std::string tag = "verify-" + std::to_string(rd());
    auto created = co_await remote.create(mailbox, model::FolderKind::contacts, c, tag, false);
    if (!created) {
      list.fail(write, created.error().message, advice(created.error()));
      co_return;
    }
    auto removed = co_await remote.remove(mailbox, model::FolderKind::contacts, *created, false);
    if (!removed)
      list.fail(write, "created, but not deleted: " + removed.error().message,
                "Delete the contact \"exsync verify (safe to delete)\" from " + mailbox + " by hand.");
    else
      list.pass(write, "created and deleted");
  }

  // When the configured mode is refused the mailbox, whether the other mode for the same
  // service account gets in: then the advice is to switch ([tenant] access). App-only tokens
  // have no delegate alternative.
  Task<std::optional<std::string>> other_mode_that_works(const config::Config& cfg, auth::TokenSource& tokens,
                                                         const std::string& mailbox, const model::RemoteError& e) {
    using K = model::RemoteErrorKind;
    const bool refused_impersonation = !delegate && e.kind == K::impersonation_denied &&
                                       cfg.tenant.access != config::TenantConfig::Access::app;
    const bool refused_delegate = delegate && e.kind == K::access_denied && e.code == "ErrorAccessDenied";
    if (!refused_impersonation && !refused_delegate) co_return std::nullopt;
    auto settings = ews_settings(cfg);
    settings.addressing = delegate ? ews::Addressing::impersonation : ews::Addressing::delegate;
    ews::EwsService other(*client_, tokens, settings);
    auto probe = co_await other.changes(mailbox, model::FolderKind::contacts, "", 1);
    if (!probe) co_return std::nullopt;
    if (refused_impersonation)
      co_return "The service account may not impersonate " + mailbox +
          " (Exchange Online removed the ApplicationImpersonation role in February 2025), but it has FullAccess "
          "on the mailbox: set [tenant] access = \"delegate\" (and grant Send As to send mail), or use app-only "
          "access ([tenant] access = \"app\").";
    co_return "The service account has no FullAccess on " + mailbox +
        ", but it may impersonate the mailbox: set [tenant] access = \"impersonation\", or grant FullAccess "
        "(Add-MailboxPermission -Identity " + mailbox + " -User <service account> -AccessRights FullAccess).";
  }

  Task<void> check_ews(config::Config& cfg, auth::TokenSource& tokens, const std::string& mailbox, Step& ews_reach,
                       Step& impersonate, Step& contacts, Step& calendar, Step* write) {
    ews::EwsService ews(*client_, tokens, ews_settings(cfg));
    auto probe = co_await ews.changes(mailbox, model::FolderKind::contacts, "", 1);
    if (!probe) {
      const auto& e = probe.error();
      using K = model::RemoteErrorKind;
      std::string what = e.message + (e.code.empty() || e.code.rfind("HTTP", 0) == 0 ? "" : " (" + e.code + ")");
      if (e.kind == K::network || (e.kind == K::access_denied && e.code == "HTTP403") || e.kind == K::unauthorized ||
          e.kind == K::protocol || e.kind == K::server) {
        const bool basic = e.kind == K::unauthorized && tokens.scheme() == "Basic";
        list.fail(ews_reach, cfg.ews.url + ": " + what,
                  basic ? "Exchange refused the service account's name or password (HTTP Basic). Check "
                          "[service_account] username and password_file, and that Basic authentication is "
                          "enabled on the EWS virtual directory."
                        : remote_advice(e, mailbox));
        co_return;
      }
      list.pass(ews_reach, cfg.ews.url);
      std::string advice = remote_advice(e, mailbox, delegate);
      if (auto mode = co_await other_mode_that_works(cfg, tokens, mailbox, e)) advice = *mode;
      list.fail(impersonate, what, advice);
      co_return;
    }
    list.pass(ews_reach, cfg.ews.url);
    list.pass(impersonate, delegate ? "the mailbox named in each request, no impersonation"
                                    : "ExchangeImpersonation accepted");

    const auto advice = [&](const model::RemoteError& e) { return remote_advice(e, mailbox); };
    const std::vector<std::pair<model::FolderKind, Step*>> folders{{model::FolderKind::contacts, &contacts},
                                                                   {model::FolderKind::calendar, &calendar}};
    co_await read_into_scratch_store(ews, mailbox, folders, advice);

    if (write) co_await write_test(ews, mailbox, *write, advice);
  }
};

void print_text(const Checklist& list, const std::string& mailbox, const std::string& config,
                const std::string& access) {
  std::printf("exsyncd verify: %s with %s%s\n", mailbox.c_str(), config.c_str(),
              access.empty() ? "" : (" (access: " + access + ")").c_str());
  for (const auto& s : list.steps()) {
    const char* mark = s.outcome == Outcome::pass ? "PASS" : s.outcome == Outcome::fail ? "FAIL" : " -- ";
    std::string line = s.title;
    if (s.outcome == Outcome::skipped) line += ": not tried, an earlier step failed";
    else if (!s.detail.empty()) line += ": " + s.detail;
    std::printf("%s  %s\n", mark, line.c_str());
    if (s.outcome == Outcome::fail) std::printf("      %s\n", s.advice.c_str());
  }
  std::printf("%s\n", list.passed() ? "All steps passed." : "Some steps failed: fix the first FAIL and run verify again.");
}

void print_json(const Checklist& list, const std::string& mailbox, const std::string& access) {
  json::array steps;
  for (const auto& s : list.steps()) {
    json::object o{{"step", s.id},
                   {"title", s.title},
                   {"result", s.outcome == Outcome::pass ? "pass" : s.outcome == Outcome::fail ? "fail" : "skipped"}};
    if (!s.detail.empty()) o["detail"] = s.detail;
    if (s.outcome == Outcome::fail) o["advice"] = s.advice;
    steps.push_back(std::move(o));
  }
  json::object out{{"mailbox", mailbox}, {"passed", list.passed()}, {"steps", steps}};
  if (!access.empty()) out["access"] = access;
  std::printf("%s\n", json::serialize(out).c_str());
}

}  // namespace

int run_verify(const CommandLine& cl) {
  if (auto problem = mailbox_address_problem(cl.mailbox)) {
    std::fprintf(stderr, "exsyncd: --mailbox: \"%s\" %s\n", cl.mailbox.c_str(), problem->c_str());
    return kExitUsage;
  }
  const std::string mailbox = normalize_mailbox_address(cl.mailbox);
  Verifier v{cl, {}};
  auto cfg = config::load_config(cl.config);
  v.delegate = cfg && cfg->tenant.access == config::TenantConfig::Access::delegate;
  v.graph = cfg && cfg->tenant.protocol == config::TenantConfig::Protocol::graph;
  v.notifications = cfg && !cfg->graph.notification_url.empty();
  // The mode under test, as the checklist's heading says it: "impersonation", "app", "delegate",
  // with ", basic" for HTTP Basic.
  std::string access;
  if (cfg)
    access = std::string(config::access_name(cfg->tenant.access)) + (cfg->tenant.basic_auth ? ", basic" : "") +
             (v.graph ? ", Microsoft Graph" : "");
  v.declare(mailbox);
  auto& readable = *v.list.find("configuration_readable");
  if (!cfg) {
    v.list.fail(readable, cfg.error().message(), "Fix the configuration file; the message names the key.");
  } else {
    v.list.pass(readable, cl.config);
    // The checklist is the output; the daemon's own log lines only for errors.
    log::init(cfg->log_format, log::Level::error);
    net::io_context io;
    net::co_spawn(io, v.run(*cfg, io), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
    io.run();
    v.client_.reset();  // its sockets belong to `io`: gone before it is
  }
  if (cl.json)
    print_json(v.list, mailbox, access);
  else
    print_text(v.list, mailbox, cl.config, access);
  return v.list.passed() ? 0 : kExitMailboxFailed;
}

}  // namespace exsync::daemon
