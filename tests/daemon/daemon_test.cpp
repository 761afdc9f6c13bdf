// End-to-end tests: the real exsyncd binary against the real simulator, with a real SQLite file.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "exsync/store/sqlite_store.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
using test::run_process;

std::string exsyncd() { return test::exsyncd_path().string(); }

void expect_store_matches_sim(test::Simulator& sim, const std::string& mailbox) {
  const auto want = sim.contacts(mailbox);
  const auto got = test::stored_items(sim.config(), mailbox);
  EXPECT_EQ(got.size(), want.size()) << mailbox;
  for (const auto& [id, json] : want) {
    auto it = got.find(id);
    if (it == got.end()) {
      ADD_FAILURE() << mailbox << ": missing " << json;
      continue;
    }
    EXPECT_EQ(test::without_local_id(it->second), json);
  }
}

TEST(DaemonCommandLineTest, HelpAndVersion) {
  auto help = run_process({exsyncd(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("once"), std::string::npos);
  auto version = run_process({exsyncd(), "--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("exsyncd ", 0), 0u);
  auto bad = run_process({exsyncd(), "sync-everything", "--config", "x"});
  EXPECT_EQ(bad.exit_code, 64);
  EXPECT_NE(bad.err.find("unknown argument"), std::string::npos);
}

TEST(DaemonConfigTest, ABadConfigurationStopsStartUpWithOneLineAndExit78) {
  test::TempDir dir;
  auto missing = run_process({exsyncd(), "once", "--config", (dir / "nope.toml").string()});
  EXPECT_EQ(missing.exit_code, 78);
  EXPECT_NE(missing.err.find("nope.toml"), std::string::npos);

  test::write_secret_file(dir / "pw", "secret-password-123\n");
  test::write_file(dir / "exsync.toml", R"([tenant]
tenant_id = "contoso.onmicrosoft.com"
client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
[service_account]
username = "svc@contoso.com"
password_file = "pw"
[store]
path = "exsync.db"
[mailboxes]
list = ["agent1@contoso.com"]
[sync]
intervall_seconds = 5
)");
  auto typo = run_process({exsyncd(), "run", "--config", (dir / "exsync.toml").string()});
  EXPECT_EQ(typo.exit_code, 78);
  EXPECT_EQ(typo.err, "exsyncd: " + (dir / "exsync.toml").string() + ": sync.intervall_seconds: is not a known key\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "exsync.db")) << "nothing starts on a bad configuration";
}

class DaemonSyncTest : public ::testing::Test {
 protected:
  void TearDown() override {
    sim_.expect_schema_valid_requests();
  }
  test::ProcessResult once(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {exsyncd(), "once", "--config", sim_.config().string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv);
  }
  // `exsyncd run`, once its first round is done.
  std::unique_ptr<test::Process> run_first_round(const test::TempDir& logs) {
    auto daemon = std::make_unique<test::Process>(std::vector<std::string>{exsyncd(), "run", "--config", sim_.config().string()},
                                                  logs.path(), "exsyncd");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (daemon->stderr_text().find("event=sync.round.done") == std::string::npos) {
      EXPECT_LT(std::chrono::steady_clock::now(), deadline) << daemon->stderr_text();
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(20ms);
    }
    return daemon;
  }
  void set_config(const std::string& from, const std::string& to) { test::edit_config(sim_.config(), from, to); }
  test::Simulator sim_{test::SimOptions{.mailboxes = 3, .contacts = 40}};
};

TEST_F(DaemonSyncTest, OnceStoresExactlyTheSimulatorsContactsForEveryMailbox) {
  auto r = once();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("event=sync.round.done round=1 mailboxes=3 failed=0"), std::string::npos) << r.err;
  for (const auto& mb : sim_.mailboxes()) expect_store_matches_sim(sim_, mb);
}

TEST_F(DaemonSyncTest, ItemsBeforeAnySyncSaysSoInsteadOfCreatingAStore) {
  auto r = run_process({exsyncd(), "items", "--config", sim_.config().string(), "--mailbox", "agent1@contoso.onmicrosoft.com"});
  EXPECT_EQ(r.exit_code, 74);
  EXPECT_NE(r.err.find("does not exist yet"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(sim_.dir() / "exsync.db"));
}

// Events arrive field by field: all-day ones on their dates, a weekly series across the start of
// daylight saving with its moved and cancelled occurrences, meetings in several zones.
TEST_F(DaemonSyncTest, CalendarItemsAreStoredAsExchangeHasThem) {
  ASSERT_EQ(once().exit_code, 0);
  for (const auto& mb : sim_.mailboxes()) {
    const auto path = "/sim/mailboxes/" + test::url_segment(mb) + "/events";
    std::map<std::string, std::string> want;
    std::istringstream in(sim_.control("GET", path).body);
    std::string line;
    while (std::getline(in, line)) want[std::string(boost::json::parse(line).at("ews_id").as_string())] = line;
    auto r = run_process({exsyncd(), "items", "--config", sim_.config().string(), "--mailbox", mb, "--folder", "calendar"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, std::string> got;
    std::istringstream out(r.out);
    while (std::getline(out, line)) got[std::string(boost::json::parse(line).at("ews_id").as_string())] = test::without_local_id(line);
    EXPECT_EQ(got, want) << mb;
  }
  // The series: Tuesdays at 09:00 in Los Angeles, before and after daylight saving starts.
  auto r = run_process({exsyncd(), "items", "--config", sim_.config().string(), "--mailbox", "agent1@contoso.onmicrosoft.com",
                        "--folder", "calendar"});
  EXPECT_NE(r.out.find(R"("start":"2026-03-03T09:00:00-08:00")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("original_start":"2026-03-17T16:00:00Z","start":"2026-03-17T11:00:00-07:00")"), std::string::npos);
  EXPECT_NE(r.out.find(R"("deleted_occurrences":["2026-03-31T16:00:00Z"])"), std::string::npos);
  EXPECT_NE(r.out.find(R"("all_day":true)"), std::string::npos);

  // An edit and a deletion in Outlook reach the store on the next run.
  const std::string mb = "agent2@contoso.onmicrosoft.com";
  std::istringstream in(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb) + "/events").body);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  const std::string edited(boost::json::parse(first).at("ews_id").as_string());
  const std::string removed(boost::json::parse(second).at("ews_id").as_string());
  const auto base = "/sim/mailboxes/" + test::url_segment(mb) + "/events/";
  ASSERT_EQ(sim_.control("PUT", base + test::url_segment(edited), R"({"subject":"Moved to the office","location":"HQ"})").status, 204);
  ASSERT_EQ(sim_.control("DELETE", base + test::url_segment(removed)).status, 204);
  ASSERT_EQ(once({"--mailbox", mb}).exit_code, 0);
  auto after = run_process({exsyncd(), "items", "--config", sim_.config().string(), "--mailbox", mb, "--folder", "calendar"});
  EXPECT_NE(after.out.find("Moved to the office"), std::string::npos);
  EXPECT_EQ(after.out.find(removed), std::string::npos);
}

TEST_F(DaemonSyncTest, ASecondRunWithNoChangesMakesOnlySyncFolderItemsCalls) {
  ASSERT_EQ(once().exit_code, 0);
  sim_.control("POST", "/sim/stats/reset");
  auto r = once();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(sim_.operation_count("SyncFolderItems"), 6) << "contacts and calendar of three mailboxes";
  EXPECT_EQ(sim_.operation_count("GetItem"), 0);
}

TEST_F(DaemonSyncTest, ChangesInExchangeAreReflectedByTheNextRun) {
  ASSERT_EQ(once().exit_code, 0);
  const std::string mb = "agent2@contoso.onmicrosoft.com";
  const auto base = "/sim/mailboxes/" + test::url_segment(mb) + "/contacts";
  auto contacts = sim_.contacts(mb);
  sim_.control("POST", base, R"({"display_name":"Quote \" Amp & Lt < CDATA ]]>","categories":["Buyer"]})");
  sim_.control("PUT", base + "/" + test::url_segment(contacts.begin()->first), R"({"display_name":"Updated","company":"New Co"})");
  sim_.control("DELETE", base + "/" + test::url_segment(contacts.rbegin()->first));
  auto r = once({"--mailbox", mb});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("created=1 updated=1 deleted=1"), std::string::npos) << r.err;
  expect_store_matches_sim(sim_, mb);
}

TEST_F(DaemonSyncTest, AFailingMailboxIsSkippedAndMakesOnceExitNonZero) {
  set_config("file = \"mailboxes.txt\"", "file = \"mailboxes.txt\"\nlist = [\"gone@contoso.onmicrosoft.com\"]");
  sim_.control("PUT", "/sim/impersonation/denied/agent3@contoso.onmicrosoft.com");
  auto r = once();
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("event=sync.mailbox.failed mailbox=gone@contoso.onmicrosoft.com folder=contacts kind=remote "
                       "reason=mailbox_not_found code=ErrorNonExistentMailbox"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("mailbox=agent3@contoso.onmicrosoft.com folder=contacts kind=remote reason=impersonation_denied"),
            std::string::npos);
  expect_store_matches_sim(sim_, "agent1@contoso.onmicrosoft.com");
  expect_store_matches_sim(sim_, "agent2@contoso.onmicrosoft.com");
}

TEST_F(DaemonSyncTest, AWrongPasswordIsExplainedAndNeverLogged) {
  const std::string wrong = "Wrong-Pa55word!";
  test::write_file(sim_.dir() / "service-account.password", wrong + "\n");
  auto r = once();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("event=auth.token.failed kind=wrong_password aadsts=50126"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("password_file"), std::string::npos) << "the advice names the setting to fix";
  EXPECT_EQ(r.err.find(wrong), std::string::npos);
  // Three mailboxes, one sign-in attempt: retrying per mailbox could lock the account out.
  EXPECT_EQ(boost::json::parse(sim_.control("GET", "/sim/stats").body).at("token_requests").as_int64(), 1);
  EXPECT_EQ(r.err.find(sim_.password()), std::string::npos);
}

TEST_F(DaemonSyncTest, RunStopsCleanlyOnSigterm) {
  test::TempDir logs;
  auto running = run_first_round(logs);
  ASSERT_FALSE(HasFailure());
  auto& daemon = *running;
  daemon.signal(SIGTERM);
  auto r = daemon.wait(10s);
  ASSERT_TRUE(r) << "exsyncd did not stop on SIGTERM";
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_NE(r->err.find("event=daemon.stopping signal=SIGTERM"), std::string::npos);
  EXPECT_NE(r->err.find("event=daemon.stopped"), std::string::npos);
  for (const auto& mb : sim_.mailboxes()) expect_store_matches_sim(sim_, mb);
}

// SIGHUP (systemctl reload) applies a changed mailbox list while the daemon runs; a broken
// configuration changes nothing and the daemon goes on.
TEST_F(DaemonSyncTest, SighupReloadsTheMailboxListLive) {
  const auto list = sim_.dir() / "mailboxes.txt";
  test::write_file(list, "agent1@contoso.onmicrosoft.com\nagent2@contoso.onmicrosoft.com\n");
  test::TempDir logs;
  test::Process daemon({exsyncd(), "run", "--config", sim_.config().string()}, logs.path(), "exsyncd");
  auto wait_for = [&](const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (daemon.stderr_text().find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  };
  ASSERT_TRUE(wait_for("event=sync.round.done round=1 mailboxes=2")) << daemon.stderr_text();

  test::write_file(list, "agent1@contoso.onmicrosoft.com\nagent3@contoso.onmicrosoft.com\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for("event=config.reloaded mailboxes=2 added=agent3@contoso.onmicrosoft.com "
                       "removed=agent2@contoso.onmicrosoft.com"))
      << daemon.stderr_text();
  ASSERT_TRUE(wait_for("event=sync.folder.done mailbox=agent3@contoso.onmicrosoft.com")) << daemon.stderr_text();

  const auto good = test::read_file(sim_.config());
  test::write_file(sim_.config(), good + "\n[nonsense]\n");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for("event=config.reload.failed")) << daemon.stderr_text();
  test::write_file(sim_.config(), good);

  daemon.signal(SIGTERM);
  auto r = daemon.wait(20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->err;
  expect_store_matches_sim(sim_, "agent3@contoso.onmicrosoft.com");
}

// One `run` or `once` per store: a second is refused with its reason while the first runs, and
// the readers (status) still work beside it.
TEST_F(DaemonSyncTest, ASecondDaemonOnTheSameStoreIsRefused) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon.start();
  auto second = test::run_process({exsyncd(), "once", "--config", sim_.config().string()});
  EXPECT_EQ(second.exit_code, 74) << second.err;
  EXPECT_NE(second.err.find("event=store.locked"), std::string::npos) << second.err;
  auto status = test::run_process({exsyncd(), "status", "--config", sim_.config().string()});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  ASSERT_TRUE(daemon.stop());
  auto after = test::run_process({exsyncd(), "once", "--config", sim_.config().string()});
  EXPECT_EQ(after.exit_code, 0) << after.err;
}

// The API listening is the first sign of life a supervisor or a CRM sees: a SIGHUP sent the
// moment it shows is a reload, never the signal's default action (termination).
TEST_F(DaemonSyncTest, SighupAsSoonAsTheApiListensIsAReload) {
  test::TempDir logs;
  test::Process daemon({exsyncd(), "run", "--config", sim_.config().string()}, logs.path(), "exsyncd");
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (daemon.stderr_text().find("event=api.listening") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << daemon.stderr_text();
    std::this_thread::sleep_for(1ms);
  }
  daemon.signal(SIGHUP);
  deadline = std::chrono::steady_clock::now() + 30s;
  while (daemon.stderr_text().find("event=config.reloaded") == std::string::npos) {
    ASSERT_FALSE(daemon.wait(0ms)) << "exsyncd died of an early SIGHUP:\n" << daemon.stderr_text();
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << daemon.stderr_text();
    std::this_thread::sleep_for(10ms);
  }
  daemon.signal(SIGTERM);
  auto r = daemon.wait(20s);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->exit_code, 0) << r->err;
}

// The guide's way to keep the password out of clear text: seal it, point the configuration at the
// sealed file and its key; the daemon signs in with it. Rotation is the same, then SIGHUP.
TEST_F(DaemonSyncTest, ASealedPasswordFromTheCommandLineSignsIn) {
  const auto key = sim_.dir() / "exsync.key", sealed = sim_.dir() / "service-account.sealed";
  const auto password = sim_.password();
  auto r = run_process({"/bin/sh", "-c",
                        "printf '%s\\n' \"$1\" | \"$2\" secret seal --key-file \"$3\" --out \"$4\"", "seal",
                        password, exsyncd(), key.string(), sealed.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("created the key file"), std::string::npos);
  for (const auto& f : {key, sealed})
    EXPECT_EQ(std::filesystem::status(f).permissions() & std::filesystem::perms::mask,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write) << f;
  EXPECT_EQ(test::read_file(sealed).find(password), std::string::npos);
  set_config("password_file = \"service-account.password\"",
             "password_file = \"service-account.sealed\"\nkey_file = \"exsync.key\"");
  std::filesystem::remove(sim_.dir() / "service-account.password");
  auto once_r = once();
  EXPECT_EQ(once_r.exit_code, 0) << once_r.err;
  EXPECT_NE(once_r.err.find("event=auth.token.acquired"), std::string::npos);
  EXPECT_EQ(once_r.err.find(password), std::string::npos);
}

TEST_F(DaemonSyncTest, StatusShowsEachMailboxFromTheStore) {
  set_config("file = \"mailboxes.txt\"", "file = \"mailboxes.txt\"\nlist = [\"gone@contoso.onmicrosoft.com\"]");
  EXPECT_EQ(once().exit_code, 1);
  auto table = run_process({exsyncd(), "status", "--config", sim_.config().string()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("MAILBOX", 0), 0u) << table.out;
  auto json_r = run_process({exsyncd(), "status", "--config", sim_.config().string(), "--json"});
  ASSERT_EQ(json_r.exit_code, 0) << json_r.err;
  auto v = boost::json::parse(json_r.out);
  const auto& list = v.at("mailboxes").as_array();
  ASSERT_EQ(list.size(), 4u);
  for (const auto& m : list) {
    const std::string mailbox(m.at("mailbox").as_string());
    if (mailbox == "gone@contoso.onmicrosoft.com") {
      EXPECT_EQ(m.at("state"), "failing") << json_r.out;
      EXPECT_NE(std::string(m.at("last_error").as_string()).find("mailbox_not_found"), std::string::npos);
      continue;
    }
    EXPECT_EQ(m.at("state"), "ok") << mailbox;
    EXPECT_EQ(m.at("items").at("contacts").as_int64(), 40) << mailbox;
    EXPECT_TRUE(m.at("last_success").is_string());
    EXPECT_NE(table.out.find(mailbox + "  ok"), std::string::npos) << table.out;
  }

  // --watch prints the table again until interrupted.
  test::TempDir logs;
  test::Process watch({exsyncd(), "status", "--config", sim_.config().string(), "--watch"}, logs.path(), "status");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  auto tables = [&] {
    const auto out = watch.stdout_text();
    int n = 0;
    for (auto pos = out.find("MAILBOX"); pos != std::string::npos; pos = out.find("MAILBOX", pos + 1)) ++n;
    return n;
  };
  while (tables() < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  EXPECT_GE(tables(), 2);
  watch.signal(SIGINT);
  auto w = watch.wait(5s);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->exit_code, 0);
}

// `exsyncd backup` copies the store while the daemon runs and syncs; the copy holds every
// mailbox. A damaged store stops the daemon at start with the integrity check's finding.
TEST_F(DaemonSyncTest, BackupWhileRunningAndADamagedStoreStopsStartUp) {
  test::TempDir logs;
  auto running = run_first_round(logs);
  ASSERT_FALSE(HasFailure());
  auto& daemon = *running;
  const auto copy = sim_.dir() / "backup" / "exsync-copy.db";
  std::filesystem::create_directories(copy.parent_path());
  auto backup = run_process({exsyncd(), "backup", "--config", sim_.config().string(), "--to", copy.string()});
  EXPECT_EQ(backup.exit_code, 0) << backup.err;
  EXPECT_NE(backup.err.find("event=store.backup.done"), std::string::npos) << backup.err;
  auto twice = run_process({exsyncd(), "backup", "--config", sim_.config().string(), "--to", copy.string()});
  EXPECT_EQ(twice.exit_code, 74);
  EXPECT_NE(twice.err.find("exists already"), std::string::npos) << twice.err;
  daemon.signal(SIGTERM);
  ASSERT_TRUE(daemon.wait(10s));
  {
    auto store = store::SqliteStore::open(copy, {.check_integrity = true});
    ASSERT_TRUE(store) << store.error().message;
    for (const auto& mb : sim_.mailboxes())
      EXPECT_EQ((*store)->items(mb, model::FolderKind::contacts)->size(), 40u) << mb;
  }

  // Damage the store (its file, not its WAL: the daemon checkpointed on exit).
  test::damage_database(sim_.dir() / "exsync.db");
  auto r = once();
  EXPECT_EQ(r.exit_code, 74) << r.err;
  EXPECT_NE(r.err.find("event=store.open.failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("kind=corrupt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("integrity check"), std::string::npos) << r.err;
}

// During an initial sync (here a resync of a folder Exchange says holds 100 items) status shows
// how far it got: "40/100" in the table, the total in --json.
TEST_F(DaemonSyncTest, StatusShowsAnInitialSyncsProgress) {
  ASSERT_EQ(once().exit_code, 0);
  {
    auto store = store::SqliteStore::open(sim_.dir() / "exsync.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->begin_initial_sync("agent2@contoso.onmicrosoft.com", model::FolderKind::contacts, 100));
  }
  auto table = run_process({exsyncd(), "status", "--config", sim_.config().string(),
                            "--mailbox", "agent2@contoso.onmicrosoft.com"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("agent2@contoso.onmicrosoft.com  initial sync"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" 40/100 "), std::string::npos) << table.out;
  auto json_r = run_process({exsyncd(), "status", "--config", sim_.config().string(), "--json"});
  const auto v = boost::json::parse(json_r.out);
  for (const auto& m : v.at("mailboxes").as_array()) {
    const bool resyncing = m.at("mailbox") == "agent2@contoso.onmicrosoft.com";
    EXPECT_EQ(m.at("state"), resyncing ? "initial sync" : "ok");
    EXPECT_EQ(m.at("initial_sync_total").as_object().size(), resyncing ? 1u : 0u);
    if (resyncing) {
      EXPECT_EQ(m.at("initial_sync_total").at("contacts").as_int64(), 100);
    }
  }
}

// Delegate access: no impersonation, and every request is charged to the service account's own
// budget of 27 concurrent connections (Exchange Online's). With more mailboxes syncing at once
// than that, the daemon still never has more requests in flight.
TEST(DaemonDelegateTest, EveryMailboxSyncsWithinTheServiceAccountsConnectionBudget) {
  test::Simulator sim{test::SimOptions{.mailboxes = 40, .contacts = 30, .events = 2}};
  auto text = test::read_file(sim.config());
  text.replace(text.find("[tenant]\n"), 9, "[tenant]\naccess = \"delegate\"\n");
  text.replace(text.find("max_concurrent_mailboxes = 8"), 28, "max_concurrent_mailboxes = 64");
  test::write_file(sim.config(), text);
  sim.control("PUT", "/sim/budget", R"({"policy":"connections=27,latency_ms=40"})");

  auto r = run_process({exsyncd(), "once", "--config", sim.config().string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("max_requests=27 access=delegate"), std::string::npos) << r.err;
  const auto stats = boost::json::parse(sim.control("GET", "/sim/stats").body).as_object();
  EXPECT_EQ(stats.at("impersonated").as_int64(), 0);
  EXPECT_GT(stats.at("delegated").as_int64(), 0);
  EXPECT_TRUE(stats.at("budget_refused").as_object().empty()) << boost::json::serialize(stats);
  EXPECT_LE(stats.at("max_in_flight").as_int64(), 27);
  EXPECT_GT(stats.at("max_in_flight").as_int64(), 8) << "mailboxes did sync side by side";
  for (const auto& mb : sim.mailboxes()) expect_store_matches_sim(sim, mb);
  sim.expect_schema_valid_requests();
}

TEST(DaemonCrashTest, SigkillMidSyncThenRerunEndsInTheSameState) {
  test::Simulator sim(test::SimOptions{.mailboxes = 2, .contacts = 2500});
  auto text = test::read_file(sim.config());
  text.replace(text.find("max_concurrent_mailboxes = 8"), 28, "max_concurrent_mailboxes = 1");
  test::write_file(sim.config(), text);

  // Each run is killed a little later after its first folder completes (one mailbox done, the
  // next one in the middle of its pages), so the kills land at different points of the sync.
  int partial_kills = 0;
  for (int attempt = 0; attempt < 12 && partial_kills < 3; ++attempt) {
    test::TempDir logs;
    test::Process daemon({exsyncd(), "once", "--config", sim.config().string()}, logs.path(), "exsyncd");
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (daemon.stderr_text().find("event=sync.folder.done") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline && !daemon.wait(0ms))
      std::this_thread::sleep_for(2ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(15 * attempt));
    daemon.signal(SIGKILL);
    auto r = daemon.wait(10s);
    ASSERT_TRUE(r);
    if (r->exit_code != 128 + SIGKILL) break;  // it finished before the kill: the store is complete
    std::size_t stored = 0;
    if (std::filesystem::exists(sim.dir() / "exsync.db"))
      for (const auto& mb : sim.mailboxes()) stored += test::stored_items(sim.config(), mb).size();
    if (stored > 0 && stored < 5000) ++partial_kills;
  }
  EXPECT_GE(partial_kills, 1) << "no kill landed in the middle of a sync";

  auto r = run_process({exsyncd(), "once", "--config", sim.config().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& mb : sim.mailboxes()) expect_store_matches_sim(sim, mb);
}

}  // namespace
}  // namespace exsync
