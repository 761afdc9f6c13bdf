#include "exsync/core/time_format.hpp"

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
