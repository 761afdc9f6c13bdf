// The scheduling rules, with an injected clock: fairness, jitter, back-off caps, the server's
// back-off, priority, one bad mailbox not starving the others, and the load governor.
#include "exsync/sync/schedule.hpp"

#include <gtest/gtest.h>

#include <map>

#include "exsync/sync/load_governor.hpp"

namespace exsync::sync {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> agents(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("agent" + std::to_string(i) + "@contoso.com");
  return out;
}

TEST(ScheduleTest, EveryMailboxGetsItsTurnBeforeAnyGoesTwice) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s, .jitter = 0.1});
  schedule.set_mailboxes(agents(10'000));
  // 8 slots, each sync taking 50 ms: a round takes 62 s, longer than the interval, so every
  // mailbox is overdue by the time its turn comes again.
  std::map<std::string, int> synced;
  std::vector<Schedule::Round> rounds;
  std::vector<std::string> running;
  for (int step = 0; step < 10'000 / 8 + 1; ++step) {
    while (running.size() < 8) {
      auto next = schedule.take_next();
      ASSERT_TRUE(next);
      running.push_back(*next);
    }
    clock.advance(50ms);
    for (const auto& m : running) {
      ++synced[m];
      if (auto round = schedule.finished(m, {}).round) rounds.push_back(*round);
    }
    running.clear();
  }
  EXPECT_EQ(synced.size(), 10'000u) << "every mailbox had a turn";
  int twice = 0;
  for (const auto& [m, n] : synced) twice += n > 1 ? 1 : 0;
  EXPECT_LE(twice, 8) << "only the first ones came round again, after every other mailbox";
  EXPECT_EQ(schedule.in_flight(), 0u);
  ASSERT_EQ(rounds.size(), 1u) << "one round: every mailbox once";
  EXPECT_EQ(rounds[0].mailboxes, 10'000u);
  EXPECT_EQ(rounds[0].failed, 0u);
  EXPECT_EQ(rounds[0].duration, 1250 * 50ms);
}

TEST(ScheduleTest, AMailboxIsNeverTakenTwiceAtOnce) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s});
  schedule.set_mailboxes({"a@contoso.com"});
  ASSERT_EQ(schedule.take_next(), "a@contoso.com");
  schedule.prioritize("a@contoso.com");
  EXPECT_FALSE(schedule.take_next()) << "in flight: the priority waits for it to end";
  schedule.finished("a@contoso.com", {});
  EXPECT_EQ(schedule.take_next(), "a@contoso.com") << "prioritized while syncing: synced again at once";
}

TEST(ScheduleTest, JitterSpreadsTheNextSyncsWithinTheirShareOfTheInterval) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 100s, .jitter = 0.1, .seed = 7});
  schedule.set_mailboxes(agents(200));
  std::vector<std::string> taken;
  while (auto m = schedule.take_next()) taken.push_back(*m);
  ASSERT_EQ(taken.size(), 200u);
  std::set<Clock::time_point> dues;
  for (const auto& m : taken) {
    const auto wait = schedule.finished(m, {}).wait;
    EXPECT_GE(wait, 90s);
    EXPECT_LE(wait, 110s);
    dues.insert(schedule.status(m)->next_sync);
  }
  EXPECT_GT(dues.size(), 150u) << "the mailboxes no longer march in step";
  EXPECT_FALSE(schedule.take_next()) << "nothing is due before its interval";
  clock.advance(111s);
  int due = 0;
  while (schedule.take_next()) ++due;
  EXPECT_EQ(due, 200);
}

TEST(ScheduleTest, TheIntervalRunsFromTheStartOfTheLastSync) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s, .jitter = 0});
  schedule.set_mailboxes({"a@contoso.com"});
  ASSERT_TRUE(schedule.take_next());
  clock.advance(20s);
  EXPECT_EQ(schedule.finished("a@contoso.com", {}).wait, 40s);
  clock.advance(39s);
  EXPECT_FALSE(schedule.take_next());
  clock.advance(1s);
  EXPECT_TRUE(schedule.take_next());
  clock.advance(70s);  // longer than the interval: due again at once
  EXPECT_EQ(schedule.finished("a@contoso.com", {}).wait, 0s);
  EXPECT_TRUE(schedule.take_next());
}

TEST(ScheduleTest, APushedMailboxIsPolledOnlyAsASafetyNetUntilItsPushesStop) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s, .jitter = 0, .pushed_interval = 900s});
  schedule.set_mailboxes({"a@contoso.com", "b@contoso.com", "c@contoso.com"});
  schedule.set_pushed("a@contoso.com", true);
  EXPECT_EQ(schedule.pushed(), 1u);
  EXPECT_EQ(schedule.take_next(), "a@contoso.com") << "a mailbox never synced keeps its turn";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(schedule.take_next());
  EXPECT_EQ(schedule.finished("a@contoso.com", {}).wait, 900s);
  EXPECT_EQ(schedule.finished("b@contoso.com", {}).wait, 60s);
  EXPECT_EQ(schedule.finished("c@contoso.com", {}).wait, 60s);
  // c's notifications start flowing after its sync: its next poll moves to the safety interval.
  clock.advance(5s);
  schedule.set_pushed("c@contoso.com", true);
  EXPECT_EQ(schedule.status("c@contoso.com")->next_sync, clock.wall(clock.now() + 895s));
  EXPECT_TRUE(schedule.status("a@contoso.com")->pushed);
  EXPECT_EQ(schedule.status("a@contoso.com")->interval, 900s);

  // A notification: the pushed mailbox goes at once.
  clock.advance(10s);
  schedule.prioritize("a@contoso.com");
  EXPECT_EQ(schedule.take_next(), "a@contoso.com");
  EXPECT_EQ(schedule.finished("a@contoso.com", {}).wait, 900s);

  // Its subscription is lost 100 s later: polled again one ordinary interval after its last sync.
  clock.advance(100s);
  schedule.set_pushed("a@contoso.com", false);
  EXPECT_EQ(schedule.pushed(), 1u) << "c only";
  EXPECT_EQ(schedule.take_next(), "b@contoso.com");
  EXPECT_EQ(schedule.take_next(), "a@contoso.com");
  EXPECT_FALSE(schedule.take_next()) << "c is pushed: not due";
  EXPECT_EQ(schedule.finished("a@contoso.com", {}).wait, 60s);
  EXPECT_FALSE(schedule.status("a@contoso.com")->pushed);
}

TEST(ScheduleTest, AdaptivePollingVisitsChangingMailboxesOftenAndQuietOnesAtTheInterval) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 300s, .jitter = 0, .active_interval = 30s});
  schedule.set_mailboxes({"busy@contoso.com"});
  std::vector<std::chrono::milliseconds> waits;
  const bool changes[] = {true, false, false, false, false, false, true, false};
  for (bool changed : changes) {
    ASSERT_TRUE(schedule.take_next());
    const auto wait = schedule.finished("busy@contoso.com", {.changed = changed}).wait;
    waits.push_back(wait);
    clock.advance(wait);
  }
  using ms = std::chrono::milliseconds;
  EXPECT_EQ(waits, (std::vector<ms>{30s, 60s, 120s, 240s, 300s, 300s, 30s, 60s}));
}

TEST(ScheduleTest, FailuresBackOffDoublingUpToTheCap) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s, .jitter = 0, .backoff_cap = 600s});
  schedule.set_mailboxes({"gone@contoso.com"});
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(schedule.take_next(), "gone@contoso.com") << i;
    waits.push_back(schedule.finished("gone@contoso.com", {.ok = false, .error = "mailbox_not_found: gone"}).wait);
    const auto st = schedule.status("gone@contoso.com");
    EXPECT_EQ(st->state, MailboxState::backing_off);
    EXPECT_EQ(st->failures, i + 1);
    EXPECT_EQ(st->last_error, "mailbox_not_found: gone");
    EXPECT_FALSE(schedule.take_next()) << "not before its back-off ends";
    clock.advance(waits.back());
  }
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{60s, 120s, 240s, 480s, 600s, 600s}));
  ASSERT_TRUE(schedule.take_next());
  schedule.finished("gone@contoso.com", {});
  EXPECT_EQ(schedule.status("gone@contoso.com")->failures, 0) << "a success forgets the failures";
  EXPECT_TRUE(schedule.status("gone@contoso.com")->last_error.empty());
}

TEST(ScheduleTest, TheServersBackOffIsHonouredExactlyWhenLonger) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s, .jitter = 0});
  schedule.set_mailboxes({"busy@contoso.com"});
  ASSERT_TRUE(schedule.take_next());
  EXPECT_EQ(schedule.finished("busy@contoso.com", {.ok = false, .server_backoff = 297749ms}).wait, 297749ms);
  clock.advance(297748ms);
  schedule.prioritize("busy@contoso.com");
  EXPECT_FALSE(schedule.take_next()) << "a CRM write does not cut a server's back-off short";
  clock.advance(1ms);
  EXPECT_EQ(schedule.take_next(), "busy@contoso.com");
}

TEST(ScheduleTest, AThrottledMailboxWaitsExactlyTheServersBackOffWithoutCountingAFailure) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s, .jitter = 0});
  schedule.set_mailboxes({"busy@contoso.com", "calm@contoso.com"});
  ASSERT_EQ(schedule.take_next(), "busy@contoso.com");
  ASSERT_EQ(schedule.take_next(), "calm@contoso.com");
  const auto done = schedule.finished("busy@contoso.com",
                                      {.ok = false, .server_backoff = 40ms, .throttled = true, .error = "throttled"});
  EXPECT_EQ(done.wait, 40ms);
  EXPECT_FALSE(done.round);
  EXPECT_EQ(schedule.status("busy@contoso.com")->failures, 0);
  EXPECT_EQ(schedule.status("busy@contoso.com")->state, MailboxState::backing_off);
  EXPECT_FALSE(schedule.finished("calm@contoso.com", {}).round) << "the round waits for the throttled mailbox";
  clock.advance(39ms);
  EXPECT_FALSE(schedule.take_next());
  clock.advance(1ms);
  ASSERT_EQ(schedule.take_next(), "busy@contoso.com");
  const auto round = schedule.finished("busy@contoso.com", {}).round;
  ASSERT_TRUE(round);
  EXPECT_EQ(round->mailboxes, 2u);
  EXPECT_EQ(round->failed, 0u);
}

TEST(ScheduleTest, PrioritizedMailboxesGoFirstInTheOrderAsked) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s});
  schedule.set_mailboxes(agents(100));  // all due now
  schedule.prioritize("agent57@contoso.com");
  schedule.prioritize("agent12@contoso.com");
  schedule.prioritize("agent57@contoso.com");  // asking twice changes nothing
  EXPECT_EQ(schedule.take_next(), "agent57@contoso.com");
  EXPECT_EQ(schedule.take_next(), "agent12@contoso.com");
  EXPECT_EQ(schedule.take_next(), "agent0@contoso.com");
  // A mailbox synced a moment ago, with nothing due: the CRM's write makes it due now.
  schedule.finished("agent57@contoso.com", {});
  EXPECT_EQ(schedule.status("agent57@contoso.com")->state, MailboxState::waiting);
  schedule.prioritize("agent57@contoso.com");
  EXPECT_TRUE(schedule.status("agent57@contoso.com")->prioritized);
  EXPECT_EQ(schedule.take_next(), "agent57@contoso.com");
}

// 100 mailboxes, 4 slots, one sync per second each, for simulated hours: the mailbox that fails
// every time costs a few attempts; every healthy one keeps being synced about once per interval.
TEST(ScheduleTest, OneBadMailboxDoesNotStarveTheOthers) {
  ManualClock clock;
  const auto interval = 60s;
  Schedule schedule(clock, {.interval = interval, .jitter = 0.1, .backoff_cap = 3600s, .seed = 3});
  auto mailboxes = agents(100);
  const std::string bad = mailboxes[0];
  schedule.set_mailboxes(mailboxes);
  std::map<std::string, Clock::time_point> last;
  std::map<std::string, Clock::duration> longest_gap;
  int bad_attempts = 0, rounds = 0;
  std::vector<std::string> running;
  const auto start = clock.now();
  while (clock.now() - start < std::chrono::hours(3)) {
    while (running.size() < 4) {
      auto next = schedule.take_next();
      if (!next) break;
      running.push_back(*next);
    }
    clock.advance(1s);
    for (const auto& m : running) {
      if (m == bad) {
        ++bad_attempts;
        rounds += schedule.finished(m, {.ok = false, .error = "impersonation_denied"}).round ? 1 : 0;
        continue;
      }
      if (last.contains(m)) longest_gap[m] = std::max(longest_gap[m], clock.now() - last[m]);
      last[m] = clock.now();
      rounds += schedule.finished(m, {}).round ? 1 : 0;
    }
    running.clear();
  }
  EXPECT_EQ(longest_gap.size(), 99u);
  for (const auto& [m, gap] : longest_gap) EXPECT_LE(gap, interval * 1.1 + 30s) << m;
  EXPECT_LE(bad_attempts, 9) << "1, 2, 4 ... 60 minutes apart over 3 hours";
  EXPECT_GE(rounds, 150) << "rounds complete without waiting for the mailbox that backs off";
  EXPECT_EQ(schedule.status(bad)->state, MailboxState::backing_off);
  // The census counts what the statuses say, mailbox by mailbox.
  const auto census = schedule.census();
  std::size_t waiting = 0, due = 0;
  for (const auto& st : schedule.statuses()) {
    waiting += st.state == MailboxState::waiting ? 1 : 0;
    due += st.state == MailboxState::due ? 1 : 0;
  }
  EXPECT_EQ(census.backing_off, 1u);
  EXPECT_EQ(census.failing, 1u);
  EXPECT_EQ(census.with_error, 1u);
  EXPECT_EQ(census.synced, 99u);
  EXPECT_EQ(census.syncing, 0u);
  EXPECT_EQ(census.waiting, waiting);
  EXPECT_EQ(census.due, due);
  EXPECT_EQ(census.waiting + census.due + census.backing_off, 100u);
}

TEST(ScheduleTest, MailboxesAddedAndRemovedLive) {
  ManualClock clock;
  Schedule schedule(clock, {.interval = 60s});
  schedule.set_mailboxes({"a@contoso.com", "b@contoso.com"});
  ASSERT_EQ(schedule.take_next(), "a@contoso.com");
  auto change = schedule.set_mailboxes({"b@contoso.com", "c@contoso.com"});
  EXPECT_EQ(change.added, (std::vector<std::string>{"c@contoso.com"}));
  EXPECT_EQ(change.removed, (std::vector<std::string>{"a@contoso.com"}));
  EXPECT_TRUE(schedule.status("a@contoso.com")) << "in flight: kept until it ends";
  schedule.finished("a@contoso.com", {});
  EXPECT_FALSE(schedule.status("a@contoso.com"));
  EXPECT_EQ(schedule.size(), 2u);
  EXPECT_EQ(schedule.take_next(), "b@contoso.com");
  EXPECT_EQ(schedule.take_next(), "c@contoso.com");
  EXPECT_FALSE(schedule.take_next());
}

// Sends `n` requests; returns their numbers.
std::vector<std::uint64_t> send(LoadGovernor& g, int n) {
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(g.sent());
  return out;
}

TEST(LoadGovernorTest, ThrottlingCutsTheLimitOncePerWindowAndSuccessGrowsItSlowly) {
  ManualClock clock;
  LoadGovernor g(clock, {.max_concurrent = 20, .initial = 20, .decrease = 0.7, .grow_every = 2000ms});
  EXPECT_EQ(g.limit(), 20);
  auto burst = send(g, 20);
  EXPECT_FALSE(g.may_send()) << "20 in flight: the limit";
  g.throttled(burst[0], false, 5000ms);
  EXPECT_EQ(g.limit(), 10) << "the first overload halves";
  // The rest of the burst was sent under the old limit: its refusals do not cut again.
  for (int i = 1; i < 11; ++i) g.throttled(burst[i], false, 5000ms);
  EXPECT_EQ(g.limit(), 10);
  EXPECT_EQ(g.in_flight(), 9);
  EXPECT_TRUE(g.may_send());
  // A request sent after the cut and refused again: the new limit was still too high.
  const auto later = g.sent();
  g.connection_lost(later);
  EXPECT_EQ(g.limit(), 7) << "later cuts by `decrease`";
  EXPECT_FALSE(g.paused()) << "a mailbox's back-off is not the endpoint's";
  for (int i = 11; i < 20; ++i) g.succeeded(burst[i]);
  EXPECT_EQ(g.in_flight(), 0);

  for (auto seq : send(g, 100)) g.succeeded(seq);
  EXPECT_EQ(g.limit(), 7) << "not within grow_every of the last change";
  clock.advance(2000ms);
  g.succeeded(g.sent());
  EXPECT_EQ(g.limit(), 8) << "one more after a full window of successes";
  clock.advance(5000ms);
  for (auto seq : send(g, 7)) g.succeeded(seq);
  EXPECT_EQ(g.limit(), 8) << "a window is `limit` successes in a row";
  g.succeeded(g.sent());
  EXPECT_EQ(g.limit(), 9);
  for (int i = 0; i < 100; ++i) {
    clock.advance(2000ms);
    for (auto seq : send(g, 20)) g.succeeded(seq);
  }
  EXPECT_EQ(g.limit(), 20) << "never above the configured maximum";
  for (int i = 0; i < 20; ++i) g.throttled(g.sent(), false, 0ms);
  EXPECT_EQ(g.limit(), 1) << "never below one";
  EXPECT_TRUE(g.may_send());
}

TEST(LoadGovernorTest, ItStartsLowAndDoublesUntilTheServerShowsOverload) {
  ManualClock clock;
  LoadGovernor g(clock, {.max_concurrent = 64, .initial = 4, .decrease = 0.75});
  std::vector<int> limits{g.limit()};
  for (int window = 0; window < 4; ++window) {
    for (auto seq : send(g, g.limit())) g.succeeded(seq);
    limits.push_back(g.limit());
  }
  EXPECT_EQ(limits, (std::vector<int>{4, 8, 16, 32, 64})) << "doubling, no waiting between windows";
  g.throttled(g.sent(), false, 10ms);
  EXPECT_EQ(g.limit(), 32) << "the first overload halves";
  for (auto seq : send(g, 32)) g.succeeded(seq);
  EXPECT_EQ(g.limit(), 32) << "after overload it grows one at a time, at most once per grow_every";
  clock.advance(1000ms);
  for (auto seq : send(g, 32)) g.succeeded(seq);
  EXPECT_EQ(g.limit(), 33);
  g.throttled(g.sent(), false, 10ms);
  EXPECT_EQ(g.limit(), 24) << "later ones cut by `decrease`";
}

TEST(LoadGovernorTest, RetryAfterPausesTheWholeEndpointForExactlyThatLong) {
  ManualClock clock;
  LoadGovernor g(clock, {.max_concurrent = 8});
  g.throttled(g.sent(), true, 30s);
  EXPECT_TRUE(g.paused());
  EXPECT_FALSE(g.may_send());
  EXPECT_EQ(g.paused_until(), clock.now() + 30s);
  g.throttled(g.sent(), true, 5s);  // a shorter one does not end the pause early
  EXPECT_EQ(g.paused_until(), clock.now() + 30s);
  clock.advance(29999ms);
  EXPECT_TRUE(g.paused());
  clock.advance(1ms);
  EXPECT_FALSE(g.paused());
  EXPECT_TRUE(g.may_send());
  EXPECT_EQ(g.stats().pauses, 1u);
}

}  // namespace
}  // namespace exsync::sync
