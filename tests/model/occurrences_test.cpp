#include "exsync/model/occurrences.hpp"

#include <gtest/gtest.h>

namespace exsync::model {
namespace {

SysSeconds at(const char* s) { return *parse_xs_datetime(s); }

std::vector<std::string> starts(const std::vector<Occurrence>& occ) {
  std::vector<std::string> out;
  for (const auto& o : occ) out.push_back(o.start);
  return out;
}

// Tuesdays at 09:00 in Los Angeles from 3 March 2026, six times; US daylight saving starts on
// 8 March. The third occurrence moved to 11:00, the fifth cancelled.
Event weekly_series() {
  Event e;
  e.subject = "Weekly pipeline review";
  e.time_zone = "America/Los_Angeles";
  e.start = "2026-03-03T09:00:00-08:00";
  e.end = "2026-03-03T09:30:00-08:00";
  Recurrence r;
  r.pattern = "weekly";
  r.days_of_week = {"Tuesday"};
  r.first_day_of_week = "Sunday";
  r.range = "numbered";
  r.count = 6;
  r.start_date = "2026-03-03";
  e.recurrence = r;
  e.modified_occurrences = {{"OCC3", "2026-03-17T16:00:00Z", "2026-03-17T11:00:00-07:00", "2026-03-17T11:30:00-07:00"}};
  e.deleted_occurrences = {"2026-03-31T16:00:00Z"};
  return e;
}

TEST(OccurrencesTest, AWeeklySeriesKeepsItsLocalTimeAcrossDaylightSavingWithItsExceptions) {
  const auto occ = expand(weekly_series(), at("2026-03-01T00:00:00Z"), at("2026-05-01T00:00:00Z"));
  EXPECT_EQ(starts(occ), (std::vector<std::string>{"2026-03-03T09:00:00-08:00", "2026-03-10T09:00:00-07:00",
                                                   "2026-03-17T11:00:00-07:00", "2026-03-24T09:00:00-07:00",
                                                   "2026-04-07T09:00:00-07:00"}));
  ASSERT_EQ(occ.size(), 5u);
  EXPECT_TRUE(occ[2].modified);
  EXPECT_EQ(occ[2].ews_id, "OCC3");
  EXPECT_EQ(occ[2].original_start, "2026-03-17T16:00:00Z");
  EXPECT_EQ(occ[1].original_start, "2026-03-10T16:00:00Z");  // 09:00 PDT
  EXPECT_EQ(occ[4].end, "2026-04-07T09:30:00-07:00");
}

TEST(OccurrencesTest, OnlyTheWindowIsReturned) {
  const auto occ = expand(weekly_series(), at("2026-03-16T00:00:00Z"), at("2026-03-25T00:00:00Z"));
  EXPECT_EQ(starts(occ), (std::vector<std::string>{"2026-03-17T11:00:00-07:00", "2026-03-24T09:00:00-07:00"}));
  EXPECT_TRUE(expand(weekly_series(), at("2026-05-01T00:00:00Z"), at("2026-06-01T00:00:00Z")).empty())
      << "six occurrences only";
}

TEST(OccurrencesTest, AMovedOccurrenceAppearsWhereItWentWhateverItsOriginalDate) {
  auto e = weekly_series();
  e.modified_occurrences[0].start = "2026-04-20T10:00:00-07:00";
  e.modified_occurrences[0].end = "2026-04-20T10:30:00-07:00";
  const auto occ = expand(e, at("2026-04-15T00:00:00Z"), at("2026-04-25T00:00:00Z"));
  ASSERT_EQ(occ.size(), 1u);
  EXPECT_EQ(occ[0].start, "2026-04-20T10:00:00-07:00");
}

TEST(OccurrencesTest, MonthlyAndYearlyPatterns) {
  Event e;
  e.time_zone = "Europe/Berlin";
  e.start = "2026-01-13T18:00:00+01:00";
  e.end = "2026-01-13T19:00:00+01:00";
  Recurrence r;
  r.pattern = "relative_monthly";  // second Tuesday of every month
  r.days_of_week = {"Tuesday"};
  r.day_of_week_index = "Second";
  r.range = "end_date";
  r.start_date = "2026-01-13";
  r.end_date = "2026-04-30";
  e.recurrence = r;
  EXPECT_EQ(starts(expand(e, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))),
            (std::vector<std::string>{"2026-01-13T18:00:00+01:00", "2026-02-10T18:00:00+01:00",
                                      "2026-03-10T18:00:00+01:00", "2026-04-14T18:00:00+02:00"}));
  r.pattern = "absolute_monthly";  // the 31st, or the month's last day
  r.day_of_month = 31;
  r.start_date = "2026-01-31";
  r.range = "numbered";
  r.count = 3;
  e.start = "2026-01-31T18:00:00+01:00";
  e.end = "2026-01-31T19:00:00+01:00";
  e.recurrence = r;
  EXPECT_EQ(starts(expand(e, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))),
            (std::vector<std::string>{"2026-01-31T18:00:00+01:00", "2026-02-28T18:00:00+01:00",
                                      "2026-03-31T18:00:00+02:00"}));
  r.pattern = "absolute_yearly";
  r.month = "June";
  r.day_of_month = 15;
  r.start_date = "2026-06-15";
  r.range = "no_end";
  e.start = "2026-06-15T08:00:00+02:00";
  e.end = "2026-06-15T09:00:00+02:00";
  e.recurrence = r;
  EXPECT_EQ(starts(expand(e, at("2026-01-01T00:00:00Z"), at("2029-01-01T00:00:00Z"))),
            (std::vector<std::string>{"2026-06-15T08:00:00+02:00", "2027-06-15T08:00:00+02:00",
                                      "2028-06-15T08:00:00+02:00"}));
}

TEST(OccurrencesTest, ADailyAllDaySeriesStaysOnItsDates) {
  Event e;
  e.all_day = true;
  e.time_zone = "America/New_York";
  e.start = "2026-03-07T00:00:00-05:00";
  e.end = "2026-03-08T00:00:00-05:00";
  Recurrence r;
  r.pattern = "daily";
  r.range = "numbered";
  r.count = 3;
  r.start_date = "2026-03-07";
  e.recurrence = r;
  const auto occ = expand(e, at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"));
  EXPECT_EQ(starts(occ), (std::vector<std::string>{"2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00",
                                                   "2026-03-09T00:00:00-04:00"}));
}

TEST(OccurrencesTest, ASingleEventIsItsOwnOccurrence) {
  Event e;
  e.time_zone = "Asia/Calcutta";
  e.start = "2026-03-05T10:00:00+05:30";
  e.end = "2026-03-05T11:00:00+05:30";
  EXPECT_EQ(expand(e, at("2026-03-05T00:00:00Z"), at("2026-03-06T00:00:00Z")).size(), 1u);
  EXPECT_TRUE(expand(e, at("2026-03-06T00:00:00Z"), at("2026-03-07T00:00:00Z")).empty());
}

}  // namespace
}  // namespace exsync::model

namespace exsync::model {
namespace {

TEST(PatternOccurrenceTest, CountsFromOneWithCancelledOccurrencesAcrossDaylightSaving) {
  const auto series = weekly_series();
  auto first = pattern_occurrence(series, "2026-03-03T17:00:00Z");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->index, 1);
  EXPECT_EQ(first->start, "2026-03-03T09:00:00-08:00");
  // The fifth was cancelled and the third moved: each keeps its place in the pattern, and the
  // pattern's times (09:00 local, PDT by then).
  auto fifth = pattern_occurrence(series, "2026-03-31T09:00:00-07:00");
  ASSERT_TRUE(fifth);
  EXPECT_EQ(fifth->index, 5);
  auto third = pattern_occurrence(series, "2026-03-17T16:00:00Z");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->index, 3);
  EXPECT_EQ(third->start, "2026-03-17T09:00:00-07:00");
  EXPECT_EQ(third->end, "2026-03-17T09:30:00-07:00");
  EXPECT_FALSE(pattern_occurrence(series, "2026-03-17T18:00:00Z")) << "where it was moved to is no original start";
  EXPECT_FALSE(pattern_occurrence(series, "2026-04-14T16:00:00Z")) << "past the sixth";
  EXPECT_FALSE(pattern_occurrence(series, "2026-03-04T17:00:00Z")) << "a Wednesday";
}

TEST(OccurrenceWritesTest, NewCancellationsAndChangesAreWrittenEachOnceWithTheirAddress) {
  const auto before = weekly_series();
  auto after = before;
  // Cancel the second, rename the fourth, move the third (already changed) again.
  after.deleted_occurrences.insert(after.deleted_occurrences.begin(), "2026-03-10T16:00:00Z");
  after.modified_occurrences[0].start = "2026-03-17T12:00:00-07:00";
  after.modified_occurrences[0].end = "2026-03-17T12:30:00-07:00";
  after.modified_occurrences.push_back({"", "2026-03-24T16:00:00Z", "2026-03-24T09:00:00-07:00",
                                        "2026-03-24T09:30:00-07:00",
                                        OccurrenceDetails{"Pipeline review with the lender", "", "", "America/Los_Angeles",
                                                          {}, std::nullopt, ""}});
  const auto writes = occurrence_writes(before, after);
  ASSERT_EQ(writes.size(), 3u);
  EXPECT_TRUE(writes[0].cancel);
  EXPECT_EQ(writes[0].original_start, "2026-03-10T16:00:00Z");
  EXPECT_EQ(writes[0].instance_index, 2);
  EXPECT_TRUE(writes[0].own_id.empty());
  EXPECT_EQ(writes[1].original_start, "2026-03-17T16:00:00Z");
  EXPECT_EQ(writes[1].own_id, "OCC3") << "a changed occurrence is addressed by its own id";
  EXPECT_EQ(writes[1].was.start, "2026-03-17T11:00:00-07:00");
  EXPECT_EQ(writes[1].becomes.start, "2026-03-17T12:00:00-07:00");
  EXPECT_EQ(writes[2].instance_index, 4);
  EXPECT_EQ(writes[2].was.subject, "Weekly pipeline review");
  EXPECT_EQ(writes[2].becomes.subject, "Pipeline review with the lender");
  EXPECT_FALSE(writes[2].becomes.recurrence) << "an occurrence is written as a single event";
  EXPECT_TRUE(occurrence_writes(after, after).empty());

  // A new pattern: nothing is addressed by an id the mailbox may have dropped with it.
  auto longer = after;
  longer.recurrence->count = 8;
  for (const auto& w : occurrence_writes(before, longer)) EXPECT_TRUE(w.own_id.empty()) << w.original_start;
}

}  // namespace
}  // namespace exsync::model
