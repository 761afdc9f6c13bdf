#include "exsync/core/time_format.hpp"
#include "exsync/core/clock.hpp"

#include <gtest/gtest.h>

namespace exsync {
namespace {

using namespace std::chrono;

TEST(TimeFormatTest, ParsesTheDateTimeFormsExchangeSends) {
  const auto utc = parse_xs_datetime("2020-09-10T14:15:19Z");
  ASSERT_TRUE(utc);
  EXPECT_EQ(format_rfc3339_utc(*utc), "2020-09-10T14:15:19Z");
  EXPECT_EQ(format_rfc3339_utc(*parse_xs_datetime("2013-05-19T18:00:00+02:00")), "2013-05-19T16:00:00Z");
  EXPECT_EQ(format_rfc3339_utc(*parse_xs_datetime("2013-05-19T18:00:00-05:30")), "2013-05-19T23:30:00Z");
  EXPECT_EQ(format_rfc3339_utc(*parse_xs_datetime("2020-09-10T14:15:19.1234567Z")), "2020-09-10T14:15:19Z");
  EXPECT_EQ(format_rfc3339_utc(*parse_xs_datetime("2020-09-10T14:15:19")), "2020-09-10T14:15:19Z");
}

TEST(TimeFormatTest, RefusesMalformedDateTimes) {
  for (const char* s : {"", "2020-09-10", "2020-13-10T00:00:00Z", "2020-02-30T00:00:00Z", "2020-09-10T25:00:00Z",
                        "2020-09-10T14:15:19+0200", "2020-09-10T14:15:19Zjunk", "yesterday"})
    EXPECT_FALSE(parse_xs_datetime(s)) << s;
}

TEST(TimeFormatTest, DatesRoundTrip) {
  auto d = parse_date("1985-04-12");
  ASSERT_TRUE(d);
  EXPECT_EQ(format_date(*d), "1985-04-12");
  EXPECT_FALSE(parse_date("1985-02-30"));
  EXPECT_FALSE(parse_date("85-04-12"));
}

}  // namespace
}  // namespace exsync

namespace exsync {
namespace {

// A step of the wall clock (NTP, an operator) neither stalls nor hurries what is scheduled on
// the monotonic clock, while times shown to people still follow the wall clock.
std::chrono::system_clock::time_point g_wall{std::chrono::seconds(1'800'000'000)};
std::chrono::steady_clock::time_point g_steady{std::chrono::seconds(1000)};

TEST(MonotonicClockTest, AWallClockStepMovesNeitherDueTimesNorBackOffs) {
  MonotonicClock mono([] { return g_wall; }, [] { return g_steady; });
  auto& clock = mono;
  const auto due = clock.now() + std::chrono::seconds(30);
  g_wall -= std::chrono::hours(1);  // the system clock steps back an hour
  g_steady += std::chrono::seconds(31);
  g_wall += std::chrono::seconds(31);
  EXPECT_GE(clock.now(), due) << "30 s later it is due, whatever the wall clock did";
  EXPECT_EQ(clock.now() - due, std::chrono::seconds(1));
  // Shown to people: the wall clock's reading of that instant.
  EXPECT_EQ(clock.wall(due), g_wall - std::chrono::seconds(1));
  g_wall += std::chrono::hours(5);  // and forward
  EXPECT_EQ(clock.now() - due, std::chrono::seconds(1));
}

}  // namespace
}  // namespace exsync
