#include <gtest/gtest.h>

#include "exsync/model/contact_validation.hpp"

namespace exsync::model {
namespace {

// Mondays at 09:00 in Chicago from 4 January 2027: valid as it is; each case below breaks it once.
Event series(Recurrence r) {
  Event e;
  e.subject = "Open house";
  e.time_zone = "America/Chicago";
  e.start = "2027-01-04T09:00:00-06:00";
  e.end = "2027-01-04T10:00:00-06:00";
  r.start_date = r.start_date.empty() ? "2027-01-04" : r.start_date;
  e.recurrence = r;
  return e;
}

Recurrence weekly() {
  Recurrence r;
  r.pattern = "weekly";
  r.days_of_week = {"Monday"};
  r.range = "no_end";
  return r;
}

std::string problem(const Event& e) { return event_problem(e).value_or(""); }

TEST(EventValidationTest, EachPatternWithWhatItNeedsIsWritable) {
  auto w = weekly();
  EXPECT_EQ(problem(series(w)), "");
  Recurrence daily{.pattern = "daily", .interval = 2, .range = "numbered", .count = 5};
  EXPECT_EQ(problem(series(daily)), "");
  Recurrence monthly{.pattern = "absolute_monthly", .day_of_month = 4, .range = "end_date", .end_date = "2027-12-31"};
  EXPECT_EQ(problem(series(monthly)), "");
  Recurrence relative{.pattern = "relative_monthly", .days_of_week = {"Monday"}, .day_of_week_index = "First", .range = "no_end"};
  EXPECT_EQ(problem(series(relative)), "");
  Recurrence yearly{.pattern = "absolute_yearly", .day_of_month = 4, .month = "January", .range = "no_end"};
  EXPECT_EQ(problem(series(yearly)), "");
  Recurrence relative_yearly{.pattern = "relative_yearly", .days_of_week = {"Weekday"}, .day_of_week_index = "Last",
                             .month = "March", .range = "no_end"};
  EXPECT_EQ(problem(series(relative_yearly)), "");
}

TEST(EventValidationTest, APatternLackingWhatItNeedsIsRefusedByName) {
  auto no_days = weekly();
  no_days.days_of_week.clear();
  EXPECT_NE(problem(series(no_days)).find("days_of_week"), std::string::npos);
  auto bad_day = weekly();
  bad_day.days_of_week = {"Funday"};
  EXPECT_NE(problem(series(bad_day)).find("days_of_week"), std::string::npos);
  Recurrence no_index{.pattern = "relative_monthly", .days_of_week = {"Monday"}, .range = "no_end"};
  EXPECT_NE(problem(series(no_index)).find("day_of_week_index"), std::string::npos);
  Recurrence no_month{.pattern = "absolute_yearly", .day_of_month = 4, .range = "no_end"};
  EXPECT_NE(problem(series(no_month)).find("month"), std::string::npos);
  Recurrence no_day{.pattern = "absolute_monthly", .range = "no_end"};
  EXPECT_NE(problem(series(no_day)).find("day_of_month"), std::string::npos);
  Recurrence unknown{.pattern = "fortnightly", .range = "no_end"};
  EXPECT_NE(problem(series(unknown)).find("recurrence.pattern"), std::string::npos);
  auto no_count = weekly();
  no_count.range = "numbered";
  EXPECT_NE(problem(series(no_count)).find("count"), std::string::npos);
  auto ends_before = weekly();
  ends_before.range = "end_date";
  ends_before.end_date = "2026-12-31";
  EXPECT_NE(problem(series(ends_before)).find("end_date"), std::string::npos);
  auto stray_end = weekly();
  stray_end.end_date = "2027-06-30";
  EXPECT_NE(problem(series(stray_end)).find("end_date"), std::string::npos);
}

TEST(EventValidationTest, ASeriesStartsOnItsOwnDateAndItsOccurrencesDoNotOverlap) {
  auto elsewhere = weekly();
  elsewhere.start_date = "2027-01-05";
  EXPECT_NE(problem(series(elsewhere)).find("2027-01-04"), std::string::npos) << "the date in the event's own zone";
  auto twice_a_week = weekly();
  twice_a_week.days_of_week = {"Monday", "Tuesday"};
  auto long_meeting = series(twice_a_week);
  long_meeting.end = "2027-01-05T10:00:00-06:00";  // 25 hours: into Tuesday's
  EXPECT_NE(problem(long_meeting).find("ErrorOccurrenceTimeSpanTooBig"), std::string::npos);
  long_meeting.end = "2027-01-04T20:00:00-06:00";
  EXPECT_EQ(problem(long_meeting), "");
  // Sunday and Monday are a day apart across the week's end.
  twice_a_week.days_of_week = {"Sunday", "Monday"};
  auto across = series(twice_a_week);
  across.end = "2027-01-05T10:00:00-06:00";
  EXPECT_NE(problem(across), "");
}

TEST(EventValidationTest, OccurrenceChangesBelongToASeries) {
  Event single = series(weekly());
  single.recurrence.reset();
  single.deleted_occurrences = {"2027-01-11T15:00:00Z"};
  EXPECT_NE(problem(single).find("series"), std::string::npos);
}

}  // namespace
}  // namespace exsync::model
