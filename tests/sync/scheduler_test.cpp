// The continuous scheduler and the governed remote side against the simulator over real HTTPS,
// with a real SQLite store.
#include "exsync/sync/scheduler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "ews_stack.hpp"
#include "exsync/model/contact.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/governed_remote.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using namespace std::chrono_literals;
using model::FolderKind;

// Waiting advances a manual clock and is recorded, so that a test sees exactly how long the code
// chose to wait.
class RecordingWaiter final : public Waiter {
 public:
  explicit RecordingWaiter(ManualClock& clock) : clock_(clock) {}
  Task<void> wait(std::chrono::milliseconds d) override {
    waited += d;
    clock_.advance(d);
    co_return;
  }
  std::chrono::milliseconds waited{0};

 private:
  ManualClock& clock_;
};

class GovernedRemoteTest : public ::testing::Test {
 protected:
  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 3}};
  boost::asio::io_context io_;
  test::EwsStack stack_{sim_, io_};
  ManualClock clock_;
  RecordingWaiter waiter_{clock_};
  LoadGovernor governor_{clock_, {.max_concurrent = 10, .initial = 10}};
  GovernedRemote remote_{*stack_.ews, governor_, clock_, waiter_};
  const std::string agent1 = "agent1@contoso.onmicrosoft.com", agent2 = "agent2@contoso.onmicrosoft.com";

  Result<model::ChangePage, model::RemoteError> changes(const std::string& mailbox) {
    return test::run(io_, remote_.changes(mailbox, FolderKind::contacts, "", 512));
  }
};

TEST_F(GovernedRemoteTest, RetryAfterHoldsEveryMailboxsRequestsForExactlyThatLong) {
  sim_.control("PUT", "/sim/faults/ews", R"({"kind":"http503","backoff_ms":2000,"count":1})");
  auto refused = changes(agent1);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().whole_endpoint);
  EXPECT_TRUE(governor_.paused());
  EXPECT_EQ(governor_.limit(), 5) << "the first overload halves the concurrency";
  sim_.control("POST", "/sim/stats/reset");
  auto other = changes(agent2);  // another mailbox: held until the endpoint's pause ends
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(waiter_.waited, 2000ms);
  EXPECT_EQ(sim_.operation_count("SyncFolderItems"), 1);
}

TEST_F(GovernedRemoteTest, ServerBusyHoldsOnlyItsMailbox) {
  sim_.control("PUT", "/sim/faults/ews",
               R"({"kind":"server_busy","backoff_ms":5000,"count":1,"mailbox":"agent1@contoso.onmicrosoft.com"})");
  auto refused = changes(agent1);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().retry_after, 5000ms) << "BackOffMilliseconds, for the engine to wait out";
  EXPECT_FALSE(refused.error().whole_endpoint);
  EXPECT_FALSE(governor_.paused());
  auto other = changes(agent2);
  ASSERT_TRUE(other);
  EXPECT_EQ(waiter_.waited, 0ms) << "the other mailbox goes on at once";
  EXPECT_EQ(governor_.limit(), 5);
  EXPECT_EQ(governor_.stats().throttled, 1u);
  EXPECT_EQ(governor_.stats().successes, 1u);
}

// Only signs of load move the governor: a lost connection lowers the concurrency, while a
// certificate the client refuses or an answer over the size cap fail with their own kinds and
// leave every other mailbox's concurrency alone.
TEST_F(GovernedRemoteTest, OnlyOverloadMovesTheGovernor) {
  auto through = [&](http::ClientOptions options) {
    // Tokens come through a client that trusts the simulator; EWS through `options`.
    auto ews_client = std::move(*http::Client::create(io_.get_executor(), options));
    ews::EwsService ews(*ews_client, *stack_.tokens, ews::EwsSettings{sim_.base_url() + "/EWS/Exchange.asmx", 16});
    LoadGovernor governor(clock_, {.max_concurrent = 10, .initial = 10});
    GovernedRemote remote(ews, governor, clock_, waiter_);
    auto r = test::run(io_, remote.changes(agent1, FolderKind::contacts, "", 512));
    EXPECT_FALSE(r);
    return std::pair{r ? model::RemoteErrorKind::network : r.error().kind, governor.limit()};
  };
  auto untrusted = sim_.client_options();
  untrusted.ca_file.clear();
  untrusted.use_system_trust = true;  // the simulator's private CA is not among them
  auto [tls, after_tls] = through(untrusted);
  EXPECT_EQ(tls, model::RemoteErrorKind::tls);
  EXPECT_EQ(after_tls, 10);

  auto capped = sim_.client_options();
  capped.max_response_bytes = 200;
  auto [big, after_big] = through(capped);
  EXPECT_EQ(big, model::RemoteErrorKind::too_large);
  EXPECT_EQ(after_big, 10);

  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"reset_before","count":1})").status, 204);
  auto [lost, after_lost] = through(sim_.client_options());
  EXPECT_EQ(lost, model::RemoteErrorKind::network);
  EXPECT_LT(after_lost, 10);
}

// Runs the scheduler until `done()` holds (checked every 20 ms) or `limit` passes.
void run_scheduler(boost::asio::io_context& io, SyncEngine& engine, Scheduler& scheduler,
                   const std::function<bool()>& done, std::chrono::milliseconds limit) {
  boost::asio::steady_timer poll(io);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::function<void()> check = [&] {
    if (done() || std::chrono::steady_clock::now() > deadline) {
      engine.request_stop();
      scheduler.wake();
      return;
    }
    poll.expires_after(20ms);
    poll.async_wait([&](auto) { check(); });
  };
  check();
  test::run(io, scheduler.run());
}

// The scheduler with everything real: store, engine, EWS over HTTPS.
class SchedulerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }
  void run_until(Scheduler& scheduler, const std::function<bool()>& done, std::chrono::milliseconds limit) {
    run_scheduler(io_, *engine_, scheduler, done, limit);
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 4, .contacts = 5}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  test::EwsStack stack_{sim_, io_};
  std::unique_ptr<store::SqliteStore> store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
  LoadGovernor governor_{SystemClock::instance(), {.max_concurrent = 2}};
  GovernedRemote remote_{*stack_.ews, governor_, SystemClock::instance()};
  std::unique_ptr<SyncEngine> engine_ = std::make_unique<SyncEngine>(remote_, *store_, pool_);
  std::vector<std::string> mailboxes_{"agent1@contoso.onmicrosoft.com", "agent2@contoso.onmicrosoft.com",
                                      "gone@contoso.onmicrosoft.com", "agent3@contoso.onmicrosoft.com",
                                      "agent4@contoso.onmicrosoft.com"};
};

TEST_F(SchedulerTest, HealthyMailboxesSyncWhileAMissingOneBacksOffAndACrmWriteGoesOutAtOnce) {
  Schedule schedule(SystemClock::instance(), {.interval = 3600s, .jitter = 0.1});
  schedule.set_mailboxes(mailboxes_);
  Scheduler scheduler(*engine_, schedule, governor_, SystemClock::instance(), {FolderKind::contacts});
  auto all_settled = [&] {
    for (const auto& s : schedule.statuses())
      if (s.state == MailboxState::due || s.state == MailboxState::syncing) return false;
    return true;
  };
  run_until(scheduler, all_settled, 20s);
  for (const auto& s : schedule.statuses()) {
    if (s.mailbox == "gone@contoso.onmicrosoft.com") {
      EXPECT_EQ(s.state, MailboxState::backing_off);
      EXPECT_EQ(s.failures, 1);
      EXPECT_NE(s.last_error.find("mailbox_not_found"), std::string::npos) << s.last_error;
    } else {
      EXPECT_EQ(s.state, MailboxState::waiting) << s.mailbox;
      EXPECT_NE(s.last_success, Clock::time_point{}) << s.mailbox;
      EXPECT_EQ(store_->items(s.mailbox, FolderKind::contacts)->size(), 5u) << s.mailbox;
    }
  }
  EXPECT_EQ(scheduler.started(), 5u) << "each mailbox once: nothing is due for an hour";

  // The CRM writes to agent3: its mailbox goes first, long before its interval.
  model::Contact c;
  c.display_name = "Written by the CRM";
  ASSERT_TRUE(store_->local_create("agent3@contoso.onmicrosoft.com", FolderKind::contacts, c));
  schedule.prioritize("agent3@contoso.onmicrosoft.com");
  engine_ = std::make_unique<SyncEngine>(remote_, *store_, pool_);  // the last one was asked to stop
  Scheduler again(*engine_, schedule, governor_, SystemClock::instance(), {FolderKind::contacts});
  auto pushed = [&] { return sim_.contacts("agent3@contoso.onmicrosoft.com").size() == 6; };
  run_until(again, [&] { return pushed() && all_settled(); }, 20s);
  EXPECT_TRUE(pushed());
  EXPECT_EQ(again.started(), 1u) << "only the written mailbox was synced again";
}

// Exchange Online's budgets, charged per impersonated mailbox: one sync per mailbox at a time
// keeps every mailbox far inside 27 connections and 5 Sync calls, however many run at once.
class BudgetTest : public ::testing::Test {
 protected:
  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }
  boost::json::object stats() { return boost::json::parse(sim_.control("GET", "/sim/stats").body).as_object(); }
  void run_all() {
    Schedule schedule(SystemClock::instance(), {.interval = 3600s});
    schedule.set_mailboxes(sim_.mailboxes());
    Scheduler scheduler(*engine_, schedule, governor_, SystemClock::instance(),
                        {FolderKind::contacts, FolderKind::calendar});
    auto all_synced = [&] {
      for (const auto& st : schedule.statuses())
        if (st.last_success == Clock::time_point{} || st.state == MailboxState::syncing) return false;
      return true;
    };
    run_scheduler(io_, *engine_, scheduler, all_synced, 60s);
  }
  void expect_every_mailbox_complete() {
    for (const auto& mailbox : sim_.mailboxes()) {
      EXPECT_EQ(store_->items(mailbox, FolderKind::contacts)->size(), 40u) << mailbox;
      EXPECT_EQ(store_->items(mailbox, FolderKind::calendar)->size(), 5u) << mailbox;
    }
  }
  test::Simulator sim_{test::SimOptions{.mailboxes = 12, .contacts = 40}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<store::SqliteStore> store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
  test::EwsStack stack_{sim_, io_, 8};
  LoadGovernor governor_{SystemClock::instance(), {.max_concurrent = 8}};
  GovernedRemote remote_{*stack_.ews, governor_, SystemClock::instance()};
  std::unique_ptr<SyncEngine> engine_ = std::make_unique<SyncEngine>(remote_, *store_, pool_);
};

TEST_F(BudgetTest, PerMailboxBudgetsAreNeverExceeded) {
  ASSERT_EQ(sim_.control("PUT", "/sim/budget", R"({"policy":"connections=27,sync=5,latency_ms=5"})").status, 204);
  run_all();
  expect_every_mailbox_complete();
  const auto s = stats();
  EXPECT_TRUE(s.at("budget_refused").as_object().empty()) << boost::json::serialize(s);
  EXPECT_GT(s.at("max_in_flight").as_int64(), 1) << "mailboxes ran side by side";
  EXPECT_LE(s.at("max_in_flight").as_int64(), 8);
  EXPECT_EQ(governor_.limit(), 8);
}

// A request-rate budget the whole tenant shares: the daemon is refused, slows down (fewer
// mailboxes at once), waits out each BackOffMilliseconds, and every mailbox still arrives whole.
TEST_F(BudgetTest, ASharedRateBudgetSlowsTheDaemonDownWithoutLosingAnything) {
  ASSERT_EQ(sim_.control("PUT", "/sim/budget", R"({"policy":"rate=40,burst=5,rate_scope=account,latency_ms=5"})").status,
            204);
  run_all();
  expect_every_mailbox_complete();
  const auto s = stats();
  EXPECT_GT(s.at("budget_refused").at("ErrorServerBusy").as_int64(), 0) << boost::json::serialize(s);
  EXPECT_GE(governor_.stats().decreases, 1u);
  EXPECT_LT(governor_.limit(), 8);
}

}  // namespace
}  // namespace exsync::sync
