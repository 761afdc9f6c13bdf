#include "exsync/config/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "exsync/crypto/client_assertion.hpp"
#include "exsync/crypto/sealed_secret.hpp"
#include "test_support.hpp"

namespace exsync::config {
namespace {

using test::TempDir;

const char* kValid = R"(
[tenant]
tenant_id = "contoso.onmicrosoft.com"
client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"

[service_account]
username = "svc@contoso.com"
password_file = "secret/pw"

[store]
path = "state/exsync.db"

[mailboxes]
list = ["Agent1@Contoso.com"]
file = "mailboxes.txt"
)";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(dir_ / "secret");
    test::write_secret_file(dir_ / "secret" / "pw", "hunter2\n");
    test::write_file(dir_ / "mailboxes.txt", "# agents\nagent2@contoso.com  \n\nagent1@contoso.com # again\n");
  }
  Result<Config, ConfigError> load(const std::string& text) {
    test::write_file(dir_ / "exsync.toml", text);
    return load_config(dir_ / "exsync.toml");
  }
  // Replaces the first occurrence of `from` in the valid file.
  Result<Config, ConfigError> load_with(const std::string& from, const std::string& to) {
    std::string text = kValid;
    auto pos = text.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    text.replace(pos, from.size(), to);
    return load(text);
  }
  TempDir dir_;
};

TEST_F(ConfigTest, ValidFileLoadsWithDefaultsAndResolvesRelativePaths) {
  auto cfg = load(kValid);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->tenant.token_url(), "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  EXPECT_EQ(cfg->service_account.password.reveal(), "hunter2");
  EXPECT_EQ(cfg->store_path, dir_.path() / "state" / "exsync.db");
  EXPECT_EQ(cfg->ews.url, "https://outlook.office365.com/EWS/Exchange.asmx");
  EXPECT_EQ(cfg->sync.interval, std::chrono::seconds(300));
  EXPECT_EQ(cfg->sync.max_concurrent_mailboxes, 8);
  // Lower-cased, de-duplicated, list first then file.
  EXPECT_EQ(cfg->mailboxes, (std::vector<std::string>{"agent1@contoso.com", "agent2@contoso.com"}));
}

TEST_F(ConfigTest, TheExampleConfigurationIsValid) {
  auto text = test::read_file(test::source_dir() / "config" / "exsync.toml.example");
  ASSERT_FALSE(text.empty());
  // The example points at /etc and /var; run it against files of this test.
  auto replace = [&](const std::string& from, const std::string& to) {
    auto pos = text.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    text.replace(pos, from.size(), to);
  };
  replace("/etc/exsync/service-account.password", "secret/pw");
  replace("/etc/exsync/mailboxes.txt", "mailboxes.txt");
  replace("/var/lib/exsync/exsync.db", "exsync.db");
  replace("/etc/exsync/api.token", "secret/api-token");
  test::write_secret_file(dir_ / "secret" / "api-token", "0123456789abcdef0123\n");
  auto cfg = load(text);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->api.enabled);
  EXPECT_EQ(cfg->api.port, 8750);
  EXPECT_EQ(cfg->api.token.reveal(), "0123456789abcdef0123");
}

TEST_F(ConfigTest, TheApiNeedsAValidListenAddressAndAToken) {
  EXPECT_FALSE(load(kValid)->api.enabled);
  auto no_token = load(std::string(kValid) + "\n[api]\nlisten = \"127.0.0.1:8750\"\n");
  ASSERT_FALSE(no_token);
  EXPECT_EQ(no_token.error().key, "api.token_file");
  test::write_secret_file(dir_ / "secret" / "short", "abc\n");
  auto short_token = load(std::string(kValid) + "\n[api]\ntoken_file = \"secret/short\"\n");
  ASSERT_FALSE(short_token);
  EXPECT_NE(short_token.error().problem.find("16 characters"), std::string::npos);
  auto bad_listen = load(std::string(kValid) + "\n[api]\nlisten = \"localhost\"\ntoken_file = \"secret/pw\"\n");
  ASSERT_FALSE(bad_listen);
  EXPECT_EQ(bad_listen.error().key, "api.listen");
  test::write_secret_file(dir_ / "secret" / "tok", "0123456789abcdef\n");
  auto v6 = load(std::string(kValid) + "\n[api]\nlisten = \"[::1]:9000\"\ntoken_file = \"secret/tok\"\n");
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->api.address, "::1");
  EXPECT_EQ(v6->api.port, 9000);
}

TEST_F(ConfigTest, GraphNotificationsNeedAPublicHttpsUrlAppAccessAndTheListener) {
  test::write_secret_file(dir_ / "secret" / "tok", "0123456789abcdef\n");
  std::string graph = kValid;
  graph.replace(graph.find("[tenant]\n"), 9,
                "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"secret/pw\"\n");
  const std::string api = "\n[api]\ntoken_file = \"secret/tok\"\n";
  auto with_url = [&](const std::string& tenant, const std::string& tail, const std::string& url) {
    return load(tenant + tail + "\n[graph]\nnotification_url = \"" + url + "\"\n");
  };
  auto cfg = load(graph + api);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->graph.notification_url.empty()) << "polling unless the operator has a public URL";
  cfg = with_url(graph, api, "https://hooks.brokerage.example/exsync/graph");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->graph.notification_url, "https://hooks.brokerage.example/exsync/graph");

  for (const char* bad : {"http://hooks.brokerage.example/graph", "https://hooks.brokerage.example/graph?x=1",
                          "https://hooks.brokerage.example/graph#f", "https://"}) {
    auto r = with_url(graph, api, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().key, "graph.notification_url") << bad;
  }
  auto no_api = with_url(graph, "", "https://hooks.brokerage.example/graph");
  ASSERT_FALSE(no_api);
  EXPECT_NE(no_api.error().problem.find("needs [api]"), std::string::npos) << no_api.error().problem;
  auto ews = with_url(kValid, api, "https://hooks.brokerage.example/graph");
  ASSERT_FALSE(ews);
  EXPECT_NE(ews.error().problem.find("protocol = \"graph\""), std::string::npos) << ews.error().problem;
  std::string delegated = graph;
  const std::string app_lines = "access = \"app\"\nclient_secret_file = \"secret/pw\"\n";
  delegated.replace(delegated.find(app_lines), app_lines.size(), "access = \"delegate\"\n");
  auto shared = with_url(delegated, api, "https://hooks.brokerage.example/graph");
  ASSERT_FALSE(shared);
  EXPECT_NE(shared.error().problem.find(".Shared"), std::string::npos) << shared.error().problem;
}

TEST_F(ConfigTest, WebhooksNeedAnHttpsUrlAndAStandardWebhooksSecret) {
  EXPECT_FALSE(load(kValid)->webhooks.enabled);
  test::write_secret_file(dir_ / "secret" / "hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  const std::string good = "\n[webhooks]\nurl = \"https://crm.example.com/hooks\"\nsecret_file = \"secret/hook\"\n";
  auto cfg = load(std::string(kValid) + good);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_TRUE(cfg->webhooks.enabled);
  EXPECT_EQ(cfg->webhooks.name, "crm");
  EXPECT_EQ(cfg->webhooks.key.reveal().size(), 24u) << "the secret's key bytes";
  EXPECT_EQ(cfg->webhooks.failing_after, 5);
  auto plain_http = load(std::string(kValid) + "\n[webhooks]\nurl = \"http://crm.example.com/hooks\"\nsecret_file = \"secret/hook\"\n");
  ASSERT_FALSE(plain_http);
  EXPECT_EQ(plain_http.error().key, "webhooks.url");
  test::write_secret_file(dir_ / "secret" / "bad", "hunter2\n");
  auto bad_secret = load(std::string(kValid) + "\n[webhooks]\nurl = \"https://crm.example.com/hooks\"\nsecret_file = \"secret/bad\"\n");
  ASSERT_FALSE(bad_secret);
  EXPECT_EQ(bad_secret.error().key, "webhooks.secret_file");
  auto bad_name = load(std::string(kValid) + good + "name = \"CRM main\"\n");
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(bad_name.error().key, "webhooks.name");
  auto bad_count = load(std::string(kValid) + good + "failing_after = 0\n");
  ASSERT_FALSE(bad_count);
  EXPECT_EQ(bad_count.error().key, "webhooks.failing_after");
}

TEST_F(ConfigTest, MissingKeyNamesFileAndKey) {
  auto cfg = load_with("client_id = \"6731de76-14a6-49ae-97bc-6eba6914391e\"\n", "");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "tenant.client_id");
  EXPECT_EQ(cfg.error().message(), (dir_ / "exsync.toml").string() + ": tenant.client_id: is required but missing");
}

TEST_F(ConfigTest, UnknownKeyAndSectionAreRefused) {
  auto typo = load_with("[store]\n", "[store]\npaht = \"x\"\n");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().key, "store.paht");
  EXPECT_EQ(typo.error().problem, "is not a known key");
  auto section = load(std::string(kValid) + "\n[storage]\npath = \"x\"\n");
  ASSERT_FALSE(section);
  EXPECT_EQ(section.error().key, "storage");
}

TEST_F(ConfigTest, MistypedValuesAreRefused) {
  auto cfg = load(std::string(kValid) + "\n[sync]\ninterval_seconds = \"300\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "sync.interval_seconds");
  EXPECT_EQ(cfg.error().problem, "must be an integer");
  auto range = load(std::string(kValid) + "\n[sync]\nmax_concurrent_mailboxes = 0\n");
  ASSERT_FALSE(range);
  EXPECT_EQ(range.error().problem, "must be between 1 and 1024");
  auto share = load(std::string(kValid) + "\n[sync]\nmax_delete_share = 1.5\n");
  ASSERT_FALSE(share);
  EXPECT_EQ(share.error().key, "sync.max_delete_share");
  auto conflict = load(std::string(kValid) + "\n[sync]\nconflict = \"crm-wins\"\n");
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().key, "sync.conflict");
  auto folder = load(std::string(kValid) + "\n[sync]\nfolders = [\"tasks\"]\n");
  ASSERT_FALSE(folder);
  EXPECT_EQ(folder.error().key, "sync.folders");
  auto url = load(std::string(kValid) + "\n[ews]\nurl = \"http://exchange.local/EWS/Exchange.asmx\"\n");
  ASSERT_FALSE(url);
  EXPECT_EQ(url.error().problem, "must be an https:// URL");
}

TEST_F(ConfigTest, StreamingAndAdaptivePollingHaveSaneDefaultsAndBounds) {
  auto defaults = load(std::string(kValid));
  ASSERT_TRUE(defaults) << defaults.error().message();
  EXPECT_TRUE(defaults->sync.streaming);
  EXPECT_EQ(defaults->sync.safety_interval, std::chrono::seconds(1800));
  EXPECT_EQ(defaults->sync.streaming_connection_minutes, 30);
  EXPECT_EQ(defaults->sync.active_interval, std::chrono::seconds(0)) << "EWS tenants stream; no adaptive polling";
  auto off = load(std::string(kValid) + "\n[sync]\nstreaming = false\nsafety_interval_seconds = 600\n");
  ASSERT_TRUE(off) << off.error().message();
  EXPECT_FALSE(off->sync.streaming);
  EXPECT_EQ(off->sync.safety_interval, std::chrono::seconds(600));

  auto word = load(std::string(kValid) + "\n[sync]\nstreaming = \"yes\"\n");
  ASSERT_FALSE(word);
  EXPECT_EQ(word.error().key, "sync.streaming");
  auto long_connection = load(std::string(kValid) + "\n[sync]\nstreaming_connection_minutes = 45\n");
  ASSERT_FALSE(long_connection);
  EXPECT_EQ(long_connection.error().problem, "must be between 1 and 30") << "Exchange keeps a connection 30 minutes at most";
  auto eager = load(std::string(kValid) + "\n[sync]\ninterval_seconds = 120\nactive_interval_seconds = 300\n");
  ASSERT_FALSE(eager);
  EXPECT_EQ(eager.error().key, "sync.active_interval_seconds");
  auto adaptive = load(std::string(kValid) + "\n[sync]\ninterval_seconds = 600\nactive_interval_seconds = 45\n");
  ASSERT_TRUE(adaptive) << adaptive.error().message();
  EXPECT_EQ(adaptive->sync.active_interval, std::chrono::seconds(45));
}

TEST_F(ConfigTest, UnreadablePasswordFileIsAConfigError) {
  auto cfg = load_with("secret/pw", "secret/missing");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "service_account.password_file");
  EXPECT_NE(cfg.error().problem.find("No such file"), std::string::npos) << cfg.error().problem;
  test::write_secret_file(dir_ / "secret" / "empty", "\n");
  auto empty = load_with("secret/pw", "secret/empty");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().problem.find("is empty"), std::string::npos);
}

TEST_F(ConfigTest, ASecretFileReadableByOthersIsRefusedWithTheFix) {
  std::filesystem::permissions(dir_ / "secret" / "pw", std::filesystem::perms::group_read,
                               std::filesystem::perm_options::add);
  auto cfg = load(kValid);
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().key, "service_account.password_file");
  EXPECT_NE(cfg.error().problem.find("readable by group or others (mode 640)"), std::string::npos)
      << cfg.error().problem;
  EXPECT_NE(cfg.error().problem.find("chmod 600 " + (dir_ / "secret" / "pw").string()), std::string::npos);
}

TEST_F(ConfigTest, ASealedPasswordOpensWithItsKeyFile) {
  const auto key_text = *crypto::new_key_file_text();
  test::write_secret_file(dir_ / "secret" / "key", key_text);
  test::write_secret_file(dir_ / "secret" / "sealed",
                          *crypto::seal("hunter2-sealed", *crypto::parse_key_file(key_text)));
  auto no_key = load_with("secret/pw", "secret/sealed");
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error().key, "service_account.key_file");
  auto text = std::string(kValid);
  text.replace(text.find("password_file = \"secret/pw\""), 27,
               "password_file = \"secret/sealed\"\nkey_file = \"secret/key\"");
  auto cfg = load(text);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->service_account.password.reveal(), "hunter2-sealed");
  // Another key: refused, and the error says so without the secret.
  test::write_secret_file(dir_ / "secret" / "key", *crypto::new_key_file_text());
  auto wrong = load(text);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().problem.find("does not open with this key"), std::string::npos) << wrong.error().problem;
}

TEST_F(ConfigTest, AppOnlyAccessNeedsAClientSecretAndNoServiceAccount) {
  auto text = std::string(kValid);
  const auto sa = text.find("[service_account]");
  const auto next = text.find("\n[", sa + 1);
  text.erase(sa, next - sa + 1);
  text.replace(text.find("[tenant]\n"), 9, "[tenant]\naccess = \"app\"\n");
  auto missing = load(text);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().key, "tenant.client_secret_file");
  test::write_secret_file(dir_ / "secret" / "client", "app-secret-value\n");
  text.replace(text.find("access = \"app\"\n"), 15, "access = \"app\"\nclient_secret_file = \"secret/client\"\n");
  auto cfg = load(text);
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->tenant.access, TenantConfig::Access::app);
  EXPECT_EQ(cfg->tenant.client_secret.reveal(), "app-secret-value");
  EXPECT_EQ(cfg->tenant.scope, "https://outlook.office365.com/.default");
  text.replace(text.find("access = \"app\""), 14, "access = \"delegated\"");
  auto typo = load(text);
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().problem, "\"delegated\" is not one of \"impersonation\", \"app\", \"delegate\"");
}

// Delegate access signs in as the service account (ROPC), and caps the requests in flight at
// the account's EWS connection budget, since every request is charged to it.
TEST_F(ConfigTest, DelegateAccessNeedsTheServiceAccountAndCapsRequestsInFlight) {
  auto text = std::string(kValid);
  text.replace(text.find("[tenant]\n"), 9, "[tenant]\naccess = \"delegate\"\n");
  auto cfg = load(text + "\n[sync]\nmax_concurrent_mailboxes = 64\n");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->tenant.access, TenantConfig::Access::delegate);
  EXPECT_EQ(cfg->sync.max_concurrent_mailboxes, 64);
  EXPECT_EQ(cfg->max_concurrent_requests(), kAccountConnectionBudget);
  EXPECT_EQ(cfg->tenant.scope, TenantConfig{}.scope) << "the delegated EWS scope, as for impersonation";
  auto few = load(text + "\n[sync]\nmax_concurrent_mailboxes = 5\n");
  ASSERT_TRUE(few);
  EXPECT_EQ(few->max_concurrent_requests(), 5);
  auto impersonation = load(std::string(kValid) + "\n[sync]\nmax_concurrent_mailboxes = 64\n");
  ASSERT_TRUE(impersonation);
  EXPECT_EQ(impersonation->max_concurrent_requests(), 64) << "each impersonated mailbox has its own budget";

  const auto sa = text.find("[service_account]");
  text.erase(sa, text.find("\n[", sa + 1) - sa + 1);
  auto no_account = load(text);
  ASSERT_FALSE(no_account);
  EXPECT_EQ(no_account.error().key, "service_account.username");
}

// App-only access with a certificate; a sealed client secret opens with [tenant] key_file.
TEST_F(ConfigTest, AppOnlyAccessTakesACertificateOrASealedClientSecret) {
  auto text = std::string(kValid);
  const auto sa = text.find("[service_account]");
  text.erase(sa, text.find("\n[", sa + 1) - sa + 1);
  const auto pem = *crypto::generate_client_certificate("exsync app", std::chrono::hours(24));
  test::write_file(dir_ / "app.crt", pem.certificate);
  test::write_secret_file(dir_ / "app.key", pem.private_key);
  auto with_cert = text;
  with_cert.replace(with_cert.find("[tenant]\n"), 9,
                    "[tenant]\naccess = \"app\"\ncertificate_file = \"app.crt\"\nprivate_key_file = \"app.key\"\n");
  auto cfg = load(with_cert);
  ASSERT_TRUE(cfg) << cfg.error().message();
  ASSERT_TRUE(cfg->tenant.client_certificate);
  EXPECT_EQ(cfg->tenant.client_certificate->thumbprint().size(), 43u);

  const auto other = *crypto::generate_client_certificate("another", std::chrono::hours(24));
  test::write_secret_file(dir_ / "app.key", other.private_key);
  auto mismatch = load(with_cert);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().key, "tenant.certificate_file");
  EXPECT_NE(mismatch.error().problem.find("does not belong to the certificate"), std::string::npos);
  EXPECT_EQ(mismatch.error().message().find("PRIVATE KEY"), std::string::npos);

  // Both a secret and a certificate, or neither: one of them, please.
  test::write_secret_file(dir_ / "client.secret", "app-secret-value\n");
  auto both = with_cert;
  both.replace(both.find("access = \"app\"\n"), 15, "access = \"app\"\nclient_secret_file = \"client.secret\"\n");
  auto two = load(both);
  ASSERT_FALSE(two);
  EXPECT_NE(two.error().problem.find("either client_secret_file or certificate_file"), std::string::npos);

  // A sealed client secret.
  const auto key_text = *crypto::new_key_file_text();
  test::write_secret_file(dir_ / "tenant.key", key_text);
  test::write_secret_file(dir_ / "client.secret", *crypto::seal("app-secret-value\n", *crypto::parse_key_file(key_text)));
  auto sealed = text;
  sealed.replace(sealed.find("[tenant]\n"), 9, "[tenant]\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
  auto no_key = load(sealed);
  ASSERT_FALSE(no_key);
  EXPECT_EQ(no_key.error().key, "tenant.key_file");
  sealed.replace(sealed.find("access = \"app\"\n"), 15, "access = \"app\"\nkey_file = \"tenant.key\"\n");
  auto opened = load(sealed);
  ASSERT_TRUE(opened) << opened.error().message();
  EXPECT_EQ(opened->tenant.client_secret.reveal(), "app-secret-value");

  // Certificate settings without app-only access are a mistake, not silently ignored.
  auto stray = std::string(kValid);
  stray.replace(stray.find("[tenant]\n"), 9, "[tenant]\ncertificate_file = \"app.crt\"\n");
  auto ignored = load(stray);
  ASSERT_FALSE(ignored);
  EXPECT_EQ(ignored.error().key, "tenant.certificate_file");
}

// "credential:NAME": a systemd credential (LoadCredential=) in $CREDENTIALS_DIRECTORY, so that one
// configuration serves every instance of exsyncd@.service.
TEST_F(ConfigTest, ASecretFileMayBeASystemdCredential) {
  auto text = std::string(kValid);
  const auto at = text.find("password_file = \"");
  text.replace(at, text.find('\n', at) - at, "password_file = \"credential:service-account.password\"");
  unsetenv("CREDENTIALS_DIRECTORY");
  auto outside = load(text);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().key, "service_account.password_file");
  EXPECT_NE(outside.error().problem.find("LoadCredential=service-account.password"), std::string::npos)
      << outside.error().problem;

  test::TempDir credentials;
  test::write_secret_file(credentials / "service-account.password", "from-systemd\n");
  setenv("CREDENTIALS_DIRECTORY", credentials.path().c_str(), 1);
  auto cfg = load(text);
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(cfg) << cfg.error().message();
  EXPECT_EQ(cfg->service_account.password.reveal(), "from-systemd");
  EXPECT_EQ(cfg->service_account.password_file, credentials / "service-account.password");

  text.replace(text.find("credential:service-account.password"), 35, "credential:../etc/shadow");
  auto escape = load(text);
  ASSERT_FALSE(escape);
  EXPECT_NE(escape.error().problem.find("must name a credential"), std::string::npos);
}

TEST_F(ConfigTest, ErrorsNeverContainThePassword) {
  auto cfg = load(std::string(kValid) + "\n[log]\nlevel = \"loud\"\n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().message().find("hunter2"), std::string::npos);
}

TEST_F(ConfigTest, InvalidMailboxAddressesAreRefusedWithTheirPlace) {
  auto listed = load_with("[\"Agent1@Contoso.com\"]", "[\"agent1@contoso.com\", \"not-an-address\"]");
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().key, "mailboxes.list");
  EXPECT_NE(listed.error().problem.find("\"not-an-address\" is not a valid mailbox address"), std::string::npos);
  test::write_file(dir_ / "mailboxes.txt", "agent2@contoso.com\nagent 3@contoso.com\n");
  auto filed = load(kValid);
  ASSERT_FALSE(filed);
  EXPECT_NE(filed.error().key.find("line 2"), std::string::npos) << filed.error().key;
}

TEST_F(ConfigTest, TomlSyntaxErrorsNameTheLine) {
  auto cfg = load("[tenant]\ntenant_id = \n");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().problem.rfind("line 2: ", 0), 0u) << cfg.error().problem;
}

}  // namespace
}  // namespace exsync::config
