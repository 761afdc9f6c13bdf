// `exsyncd verify` against the simulator: every setup mistake gets its FAIL at the right step
// with the advice that fixes it, and a healthy tenant passes every step.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "exsync/crypto/client_assertion.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

class VerifyTest : public ::testing::Test {
 protected:
  struct Verdict {
    int exit_code = -1;
    json::object checklist;
    std::string text;
    // The step's result ("pass", "fail", "skipped").
    std::string result(const std::string& step) const {
      for (const auto& s : checklist.at("steps").as_array())
        if (s.at("step").as_string() == step) return std::string(s.at("result").as_string());
      return "absent";
    }
    std::string advice(const std::string& step) const {
      for (const auto& s : checklist.at("steps").as_array())
        if (s.at("step").as_string() == step && s.as_object().contains("advice"))
          return std::string(s.at("advice").as_string());
      return "";
    }
    // The first step that did not pass.
    std::string first_failure() const {
      for (const auto& s : checklist.at("steps").as_array())
        if (s.at("result").as_string() != "pass") return std::string(s.at("step").as_string());
      return "";
    }
  };

  Verdict verify(const std::string& mailbox = "agent1@contoso.onmicrosoft.com", std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {test::exsyncd_path().string(), "verify", "--config", sim_.config().string(),
                                     "--mailbox", mailbox, "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = test::run_process(argv);
    Verdict v;
    v.exit_code = r.exit_code;
    v.text = r.out + r.err;
    json::error_code ec;
    auto parsed = json::parse(r.out, ec);
    EXPECT_FALSE(ec) << r.out << r.err;
    if (!ec) v.checklist = parsed.as_object();
    return v;
  }
  void token_fault(int aadsts) {
    ASSERT_EQ(sim_.control("PUT", "/sim/faults/token", R"({"aadsts":)" + std::to_string(aadsts) + R"(,"count":5})").status,
              204);
  }
  void expect_failure_at(const Verdict& v, const std::string& step, const std::string& advice_part) {
    EXPECT_EQ(v.exit_code, 1) << v.text;
    EXPECT_EQ(v.first_failure(), step) << v.text;
    EXPECT_EQ(v.result(step), "fail") << v.text;
    EXPECT_NE(v.advice(step).find(advice_part), std::string::npos) << v.advice(step);
    EXPECT_EQ(v.result("calendar_readable"), "skipped") << "nothing after a failure is tried";
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 7}};
  const std::string sim_secret_ = test::read_file(sim_.dir() / "client.secret");
};

TEST_F(VerifyTest, AHealthyTenantPassesEveryStepAndTheWriteTestLeavesNothingBehind) {
  const auto before = sim_.contacts("agent1@contoso.onmicrosoft.com");
  auto v = verify("agent1@contoso.onmicrosoft.com", {"--write-test"});
  EXPECT_EQ(v.exit_code, 0) << v.text;
  EXPECT_TRUE(v.checklist.at("passed").as_bool());
  EXPECT_EQ(v.checklist.at("steps").as_array().size(), 9u);
  EXPECT_EQ(v.first_failure(), "");
  EXPECT_EQ(v.result("write_test"), "pass");
  EXPECT_EQ(sim_.contacts("agent1@contoso.onmicrosoft.com"), before) << "the tagged contact was deleted again";
  EXPECT_EQ(sim_.operation_count("CreateItem"), 1);
  EXPECT_EQ(sim_.operation_count("DeleteItem"), 1);

  // The text form: one line per step.
  auto r = test::run_process({test::exsyncd_path().string(), "verify", "--config", sim_.config().string(),
                              "--mailbox", "agent1@contoso.onmicrosoft.com"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("PASS  contacts readable: 7 items read"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("All steps passed."), std::string::npos) << r.out;
}

TEST_F(VerifyTest, AWrongPassword) {
  sim_.control("PUT", "/sim/password", R"({"password":"changed-by-the-admin"})");
  auto v = verify();
  expect_failure_at(v, "token_acquired", "password");
  EXPECT_EQ(v.result("token_endpoint_reachable"), "pass");
  EXPECT_EQ(v.text.find(sim_.password()), std::string::npos) << "no secret in the output";
}

TEST_F(VerifyTest, EachSignInRefusalNamesItsFix) {
  const std::vector<std::pair<int, std::string>> cases = {
      {50055, "never"},        // password expired: the never-expiring password policy
      {50076, "MFA"},          // MFA on the service account
      {53003, "onditional"},   // conditional access
      {65001, "consent"},      // admin consent not granted
      {7000218, "public client"},  // "Allow public client flows" off
      {700016, "client_id"},   // application id wrong
      {90002, "tenant_id"},    // tenant id wrong
  };
  for (const auto& [code, advice] : cases) {
    SCOPED_TRACE("AADSTS" + std::to_string(code));
    token_fault(code);
    auto v = verify();
    expect_failure_at(v, "token_acquired", advice);
    EXPECT_NE(v.text.find("AADSTS" + std::to_string(code)), std::string::npos);
  }
}

TEST_F(VerifyTest, ATokenWithoutTheEwsPermission) {
  sim_.control("PUT", "/sim/tenant", R"({"token_scope":"User.Read"})");
  expect_failure_at(verify(), "token_scope", "EWS.AccessAsUser.All");
}

TEST_F(VerifyTest, EwsBlockedForTheTenantOrTheApp) {
  sim_.control("PUT", "/sim/tenant", R"({"ews_blocked":true})");
  expect_failure_at(verify(), "ews_reachable", "allow list");
}

TEST_F(VerifyTest, ImpersonationNotGranted) {
  sim_.control("PUT", "/sim/impersonation", R"({"allowed":false})");
  sim_.control("PUT", "/sim/tenant", R"({"full_access":false})");
  auto v = verify();
  expect_failure_at(v, "impersonation_allowed", "ApplicationImpersonation");
  EXPECT_EQ(v.checklist.at("access"), "impersonation");
}

// Exchange Online today: the ROPC token may not impersonate, but the service account has
// FullAccess on the mailbox. verify finds out and names the mode that works.
TEST_F(VerifyTest, ImpersonationRefusedButFullAccessGrantedNamesDelegateAccess) {
  sim_.control("PUT", "/sim/impersonation", R"({"allowed":false})");
  expect_failure_at(verify(), "impersonation_allowed", "set [tenant] access = \"delegate\"");
}

// Delegate access ([tenant] access = "delegate"): the whole checklist with the mailbox named in
// each request, and FullAccess missing explained with the command that grants it, or the mode
// that works instead.
TEST_F(VerifyTest, DelegateAccess) {
  auto text = test::read_file(sim_.config());
  text.replace(text.find("[tenant]\n"), 9, "[tenant]\naccess = \"delegate\"\n");
  test::write_file(sim_.config(), text);
  auto ok = verify("agent1@contoso.onmicrosoft.com", {"--write-test"});
  EXPECT_EQ(ok.exit_code, 0) << ok.text;
  EXPECT_EQ(ok.checklist.at("access"), "delegate");
  EXPECT_EQ(ok.result("delegate_access_allowed"), "pass") << ok.text;
  EXPECT_EQ(ok.result("impersonation_allowed"), "absent") << "no impersonation step in delegate mode";
  EXPECT_EQ(ok.result("write_test"), "pass") << ok.text;

  sim_.control("PUT", "/sim/tenant", R"({"full_access":false})");
  expect_failure_at(verify(), "delegate_access_allowed", "set [tenant] access = \"impersonation\"");
  sim_.control("PUT", "/sim/impersonation", R"({"allowed":false})");
  expect_failure_at(verify(), "delegate_access_allowed", "Add-MailboxPermission");
}

TEST_F(VerifyTest, TheTestMailboxDoesNotExist) {
  expect_failure_at(verify("nobody@contoso.onmicrosoft.com"), "impersonation_allowed", "There is no mailbox");
}

TEST_F(VerifyTest, TheTokenEndpointUnreachable) {
  auto text = test::read_file(sim_.config());
  const auto at = text.find("authority = \"");
  const auto end = text.find('"', at + 13);
  text.replace(at, end - at + 1, "authority = \"https://127.0.0.1:1\"");
  test::write_file(sim_.config(), text);
  auto v = verify();
  EXPECT_EQ(v.first_failure(), "token_endpoint_reachable") << v.text;
  EXPECT_EQ(v.result("token_acquired"), "skipped");
}

TEST_F(VerifyTest, AServerCertificateNotFromTheConfiguredCa) {
  test::TempDir other;
  auto pki_dir = other / "ca.pem";
  // A valid CA that did not sign the simulator's certificate: the system bundle's first one.
  const auto bundle = test::read_file("/etc/ssl/certs/ca-certificates.crt");
  const std::string end_marker = "-----END CERTIFICATE-----\n";
  test::write_file(pki_dir, bundle.substr(0, bundle.find(end_marker) + end_marker.size()));
  auto text = test::read_file(sim_.config());
  text.replace(text.find("ca_file = \"ca.pem\""), 18, "ca_file = \"" + pki_dir.string() + "\"");
  test::write_file(sim_.config(), text);
  auto v = verify();
  EXPECT_EQ(v.first_failure(), "token_endpoint_reachable") << v.text;
  EXPECT_NE(v.text.find("certificate rejected"), std::string::npos) << v.text;
  EXPECT_NE(v.advice("token_endpoint_reachable").find("ca_file"), std::string::npos);
}

// App-only access ([tenant] access = "app"): the client credentials grant, the application
// permission full_access_as_app, still ExchangeImpersonation.
class AppVerifyTest : public VerifyTest {
 protected:
  void SetUp() override {
    auto text = test::read_file(sim_.config());
    text.replace(text.find("[tenant]\n"), 9, "[tenant]\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
    test::write_file(sim_.config(), text);
  }
};

TEST_F(AppVerifyTest, AppOnlyAccessPassesEveryStep) {
  auto v = verify("agent1@contoso.onmicrosoft.com", {"--write-test"});
  EXPECT_EQ(v.exit_code, 0) << v.text;
  EXPECT_EQ(v.first_failure(), "");
  auto once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim_.config().string()});
  EXPECT_EQ(once.exit_code, 0) << once.err;
  EXPECT_NE(once.err.find("event=auth.token.acquired grant=client_credentials"), std::string::npos) << once.err;
  EXPECT_NE(once.err.find("access=app"), std::string::npos);
}

TEST_F(AppVerifyTest, AWrongClientSecretOrAMissingRole) {
  test::write_secret_file(sim_.dir() / "client.secret", "not-the-secret\n");
  auto wrong = verify();
  expect_failure_at(wrong, "token_acquired", "client secret");
  EXPECT_NE(wrong.text.find("AADSTS7000215"), std::string::npos);

  test::write_secret_file(sim_.dir() / "client.secret", sim_secret_);
  sim_.control("PUT", "/sim/tenant", R"({"app_role":"Mail.Read"})");
  expect_failure_at(verify(), "token_scope", "full_access_as_app");
}

// Microsoft Graph with app-only access: the application permissions in the token, the RBAC for
// Applications scope covering the test mailbox, then the same reads and write test.
class GraphVerifyTest : public VerifyTest {
 protected:
  void SetUp() override {
    test::edit_config(sim_.config(), "[tenant]\n",
                      "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
    test::edit_config(sim_.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
  }
};

TEST_F(GraphVerifyTest, AHealthyTenantPassesEveryStepOverGraph) {
  auto v = verify("agent1@contoso.onmicrosoft.com", {"--write-test"});
  EXPECT_EQ(v.exit_code, 0) << v.text;
  EXPECT_EQ(v.first_failure(), "");
  for (const char* step : {"token_scope", "graph_reachable", "mailbox_allowed", "contacts_readable", "calendar_readable", "write_test"})
    EXPECT_EQ(v.result(step), "pass") << step << "\n" << v.text;
  EXPECT_EQ(v.result("ews_reachable"), "absent") << "no EWS step for a Graph tenant";
  EXPECT_EQ(sim_.operation_count("SyncFolderItems"), 0);
  EXPECT_EQ(sim_.contacts("agent1@contoso.onmicrosoft.com").size(), 7u) << "the write test leaves nothing behind";
}

TEST_F(GraphVerifyTest, AMailboxOutsideTheApplicationsRbacScopeNamesTheScope) {
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"graph_rbac_scope":["agent2@contoso.onmicrosoft.com"]})").status, 204);
  auto v = verify();
  EXPECT_EQ(v.exit_code, 1) << v.text;
  EXPECT_EQ(v.first_failure(), "mailbox_allowed") << v.text;
  EXPECT_NE(v.advice("mailbox_allowed").find("New-ManagementRoleAssignment"), std::string::npos) << v.text;
  EXPECT_EQ(v.result("contacts_readable"), "skipped");
  EXPECT_EQ(verify("agent2@contoso.onmicrosoft.com").exit_code, 0) << "the mailbox in scope passes";
}

TEST_F(GraphVerifyTest, AMissingApplicationPermissionIsNamed) {
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"graph_app_roles":["Contacts.ReadWrite","Mail.ReadWrite"]})").status,
            204);
  auto v = verify();
  EXPECT_EQ(v.exit_code, 1) << v.text;
  EXPECT_EQ(v.first_failure(), "token_scope") << v.text;
  EXPECT_NE(v.advice("token_scope").find("Mail.Send"), std::string::npos) << v.text;
  EXPECT_EQ(v.result("graph_reachable"), "skipped");
}

// With [graph] notification_url, the checklist's last step subscribes once, as the daemon will:
// Graph's validation request must come back from a running daemon through the public URL.
TEST_F(GraphVerifyTest, ChangeNotificationsPassOnlyWhenTheValidationReachesARunningDaemon) {
  test::edit_config(sim_.config(), "[graph]\n", "[graph]\nnotification_url = \"https://hooks.contoso.example/exsync/graph\"\n");
  auto alone = verify();
  EXPECT_EQ(alone.exit_code, 1) << alone.text;
  EXPECT_EQ(alone.first_failure(), "notifications_reachable") << alone.text;
  EXPECT_NE(alone.advice("notifications_reachable").find("`exsyncd run` running"), std::string::npos) << alone.text;

  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  const auto active = [&] {
    return json::parse(sim_.control("GET", "/sim/graph/subscriptions").body).at("stats").at("active").as_int64();
  };
  ASSERT_TRUE(test::eventually([&] { return active() == 2; }, "the daemon's subscriptions", [&] { return daemon.log(); }));
  auto v = verify();
  EXPECT_EQ(v.exit_code, 0) << v.text;
  EXPECT_EQ(v.result("notifications_reachable"), "pass") << v.text;
  EXPECT_EQ(active(), 2) << "the check's subscription is deleted again";
  ASSERT_TRUE(daemon.stop());
}

// Delegated Graph access: the service account's token with the .Shared scopes reaches the
// folders the agents shared with it, and the checklist says so when one did not.
TEST_F(VerifyTest, DelegatedAccessOverGraphReachesSharedFoldersAndNamesTheSharingWhenMissing) {
  test::edit_config(sim_.config(), "[tenant]\n", "[tenant]\nprotocol = \"graph\"\naccess = \"delegate\"\n");
  test::edit_config(sim_.config(), "folders = [\"contacts\", \"calendar\"]", "folders = [\"contacts\"]");
  auto v = verify("agent1@contoso.onmicrosoft.com", {"--write-test"});
  EXPECT_EQ(v.exit_code, 0) << v.text;
  EXPECT_EQ(v.checklist.at("access"), "delegate, Microsoft Graph");
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"full_access":false})").status, 204);
  auto refused = verify();
  EXPECT_EQ(refused.first_failure(), "mailbox_allowed") << refused.text;
  EXPECT_NE(refused.advice("mailbox_allowed").find("share the contacts folder"), std::string::npos) << refused.text;
}

// App-only access with a certificate instead of a client secret: a client assertion signed with
// the private key, checked by the simulator against the certificate registered on the app.
TEST(CertificateVerifyTest, AppOnlyAccessWithACertificate) {
  test::Simulator sim{test::SimOptions{.mailboxes = 1, .contacts = 5, .client_certificate = true}};
  auto text = test::read_file(sim.config());
  text.replace(text.find("[tenant]\n"), 9,
               "[tenant]\naccess = \"app\"\ncertificate_file = \"client.crt\"\nprivate_key_file = \"client.key\"\n");
  test::write_file(sim.config(), text);
  auto run_verify = [&] {
    auto r = test::run_process({test::exsyncd_path().string(), "verify", "--config", sim.config().string(), "--mailbox",
                                "agent1@contoso.onmicrosoft.com", "--json"});
    std::map<std::string, std::pair<std::string, std::string>> steps;  // result, advice
    const auto checklist = json::parse(r.out);
    for (const auto& s : checklist.at("steps").as_array()) {
      auto* advice = s.as_object().if_contains("advice");
      steps[std::string(s.at("step").as_string())] = {std::string(s.at("result").as_string()),
                                                      advice ? std::string(advice->as_string()) : ""};
    }
    return std::pair{r.exit_code, steps};
  };
  auto [ok, steps] = run_verify();
  EXPECT_EQ(ok, 0);
  EXPECT_EQ(steps["token_acquired"].first, "pass");
  EXPECT_EQ(steps["calendar_readable"].first, "pass");
  auto once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim.config().string()});
  EXPECT_EQ(once.exit_code, 0) << once.err;
  EXPECT_NE(once.err.find("event=auth.token.acquired grant=client_credentials"), std::string::npos) << once.err;
  EXPECT_EQ(once.err.find("PRIVATE KEY"), std::string::npos);

  // The certificate removed from the app registration: AADSTS700027, and what to upload.
  sim.control("PUT", "/sim/tenant", R"({"certificate_registered":false})");
  auto [refused, after] = run_verify();
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(after["token_acquired"].first, "fail");
  EXPECT_NE(after["token_acquired"].second.find("Upload [tenant] certificate_file"), std::string::npos)
      << after["token_acquired"].second;

  // A key that is not the certificate's stops at the configuration, naming both files.
  const auto other = *crypto::generate_client_certificate("another", std::chrono::hours(1));
  test::write_secret_file(sim.dir() / "client.key", other.private_key);
  auto [bad, config_steps] = run_verify();
  EXPECT_EQ(bad, 1);
  EXPECT_EQ(config_steps["configuration_readable"].first, "fail");
}

// Exchange Server on-premises without modern authentication: [tenant] auth = "basic".
TEST_F(VerifyTest, BasicAuthenticationForExchangeServer) {
  sim_.control("PUT", "/sim/tenant", R"({"basic_auth":true})");
  auto text = test::read_file(sim_.config());
  text.replace(text.find("[tenant]\n"), 9, "[tenant]\nauth = \"basic\"\n");
  test::write_file(sim_.config(), text);
  auto v = verify();
  EXPECT_EQ(v.exit_code, 0) << v.text;
  auto once = test::run_process({test::exsyncd_path().string(), "once", "--config", sim_.config().string()});
  EXPECT_EQ(once.exit_code, 0) << once.err;
  EXPECT_EQ(once.err.find("auth.token.acquired"), std::string::npos) << "no Entra ID involved";
  EXPECT_EQ(sim_.contacts("agent2@contoso.onmicrosoft.com").size(), 7u);

  sim_.control("PUT", "/sim/password", R"({"password":"changed-on-the-server"})");
  expect_failure_at(verify(), "ews_reachable", "HTTP Basic");
}

TEST_F(VerifyTest, AnUnreadableConfigurationStopsAtTheFirstStep) {
  test::write_file(sim_.config(), test::read_file(sim_.config()) + "\n[nonsense]\n");
  auto v = verify();
  EXPECT_EQ(v.exit_code, 1);
  EXPECT_EQ(v.first_failure(), "configuration_readable");
  EXPECT_EQ(v.result("token_acquired"), "skipped");
}

}  // namespace
}  // namespace exsync
