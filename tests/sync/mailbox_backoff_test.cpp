#include "exsync/sync/mailbox_backoff.hpp"

#include <gtest/gtest.h>

namespace exsync::sync {
namespace {

using namespace std::chrono_literals;

TEST(MailboxBackoffTest, RepeatedFailuresWaitLongerUpToTheCap) {
  ManualClock clock;
  MailboxBackoff backoff(clock, 60s, 600s);
  const std::string mb = "agent1@contoso.com";
  EXPECT_TRUE(backoff.due(mb));
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 6; ++i) waits.push_back(backoff.failed(mb, 0ms));
  EXPECT_EQ(waits, (std::vector<std::chrono::milliseconds>{60s, 120s, 240s, 480s, 600s, 600s}));
  EXPECT_FALSE(backoff.due(mb));
  clock.advance(599s);
  EXPECT_FALSE(backoff.due(mb));
  clock.advance(1s);
  EXPECT_TRUE(backoff.due(mb));
  EXPECT_TRUE(backoff.due("agent2@contoso.com")) << "one mailbox's failures are its own";
}

TEST(MailboxBackoffTest, TheServersBackOffWinsWhenLonger) {
  ManualClock clock;
  MailboxBackoff backoff(clock, 60s, 600s);
  EXPECT_EQ(backoff.failed("a@b.com", 297749ms), 297749ms);
  EXPECT_EQ(backoff.failed("c@d.com", 5000ms), 60s);
}

TEST(MailboxBackoffTest, ASuccessForgetsTheFailures) {
  ManualClock clock;
  MailboxBackoff backoff(clock, 60s, 600s);
  backoff.failed("a@b.com", 0ms);
  backoff.failed("a@b.com", 0ms);
  clock.advance(120s);
  backoff.succeeded("a@b.com");
  EXPECT_EQ(backoff.failures("a@b.com"), 0);
  EXPECT_EQ(backoff.failed("a@b.com", 0ms), 60s);
}

}  // namespace
}  // namespace exsync::sync
