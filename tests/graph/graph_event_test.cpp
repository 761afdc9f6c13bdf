// Graph's event JSON as exsync reads and writes it, on real captured answers
// (../shared/graph-captures): series masters, instances and delta stubs, and a series joined
// from its instances.
#include "exsync/graph/graph_event.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "exsync/model/tag.hpp"
#include "test_support.hpp"

namespace exsync::graph {
namespace {

namespace json = boost::json;

json::object capture(const std::string& path) {
  auto shared = test::shared_dir();
  if (!shared) throw std::runtime_error("../shared is missing: the Graph captures are reference data the tests need");
  return json::parse(test::read_file(*shared / "graph-captures" / path)).as_object();
}

SysSeconds at(const char* text) { return *parse_xs_datetime(text); }

TEST(GraphEventTest, ACapturedDailySeriesMasterReadsFieldByField) {
  auto item = event_from_graph(capture("items/event_create_seriesmaster_daily_captured.json"));
  ASSERT_TRUE(item) << item.error();
  EXPECT_EQ(item->ref.change_key, "wgMLBV3JBEOnWI9UGI4kTQADJmgusw==");
  const auto& e = std::get<model::Event>(item->payload);
  EXPECT_EQ(e.subject, "Daily Standup Meeting");
  EXPECT_EQ(e.body, "Quick update on daily tasks") << "the HTML body's text";
  EXPECT_EQ(e.time_zone, "Etc/UTC");
  EXPECT_EQ(e.start, "2024-03-05T09:00:00+00:00");
  EXPECT_EQ(e.end, "2024-03-05T09:30:00+00:00");
  EXPECT_EQ(e.reminder_minutes, 15);
  EXPECT_EQ(e.free_busy, "Busy");
  EXPECT_EQ(e.sensitivity, "Normal");
  EXPECT_EQ(e.organizer.address, "admin01@dev500.onmicrosoft.com");
  EXPECT_EQ(e.uid.substr(0, 32), "040000008200E00074C5B7101A82E008");
  ASSERT_TRUE(e.recurrence);
  // Graph's normalised members that daily has no use for (month 0, index first, firstDayOfWeek
  // sunday, numberOfOccurrences 0) are not taken as the pattern's.
  model::Recurrence want;
  want.pattern = "daily";
  want.interval = 1;
  want.range = "end_date";
  want.start_date = "2024-03-05";
  want.end_date = "2024-06-01";
  EXPECT_EQ(*e.recurrence, want);
}

TEST(GraphEventTest, ARelativeMonthlySeriesWithNoEndInItsOwnZoneReads) {
  auto item = event_from_graph(capture("items/event_seriesmaster_relativemonthly_noend_personal_captured.json"));
  ASSERT_TRUE(item) << item.error();
  const auto& e = std::get<model::Event>(item->payload);
  EXPECT_EQ(e.time_zone, "America/Los_Angeles");
  EXPECT_EQ(e.start, "2017-09-05T08:00:00-07:00") << "the wall clock of the zone Graph answered in";
  EXPECT_EQ(e.reminder_minutes, 15) << "sent as the string \"15\"";
  ASSERT_TRUE(e.recurrence);
  EXPECT_EQ(e.recurrence->pattern, "relative_monthly");
  EXPECT_EQ(e.recurrence->days_of_week, std::vector<std::string>{"Tuesday"});
  EXPECT_EQ(e.recurrence->day_of_week_index, "First");
  EXPECT_EQ(e.recurrence->range, "no_end");
  EXPECT_EQ(e.recurrence->end_date, "") << "noEnd's 0001-01-01 is no end date";
  EXPECT_EQ(e.recurrence->first_day_of_week, "");
}

TEST(GraphEventTest, DeltaStubsAndInstancesNameTheirSeries) {
  auto stub = instance_from_graph(capture("delta/calendarview_delta_occurrence_stub_captured.json"));
  ASSERT_TRUE(stub) << stub.error();
  EXPECT_EQ(stub->type, "occurrence");
  EXPECT_EQ(stub->series_master_id, "seriesMasterId");
  EXPECT_EQ(stub->change_key, "DwAAABYAAAC9YbapXssvT4RTG13UUr6AAAhT48i7") << "from the etag";
  EXPECT_EQ(stub->original_start, at("2023-07-23T10:25:00Z"));
  EXPECT_FALSE(stub->original_known);
  const auto list = capture("items/event_instances_occurrence_exception_msdocs.json");
  for (const auto& v : list.at("value").as_array()) {
    auto i = instance_from_graph(v.as_object());
    ASSERT_TRUE(i) << i.error();
    EXPECT_EQ(i->series_master_id, "AAMkAGUzYRgWAAA=");
  }
  // A single event is neither; a master read as an instance is refused when it has no times.
  auto single = json::object{{"id", "x"}, {"type", "occurrence"}, {"start", json::object{{"dateTime", "2026-01-01T00:00:00"}, {"timeZone", "UTC"}}},
                             {"end", json::object{{"dateTime", "2026-01-01T01:00:00"}, {"timeZone", "UTC"}}}};
  EXPECT_FALSE(instance_from_graph(single)) << "an occurrence without its series";
}

// A weekly series of six Tuesdays, the third moved by two hours, the fifth cancelled: the
// instances Graph lists make the model's one item, as EWS gives it.
TEST(GraphEventTest, JoinTakesExceptionsAsModifiedAndMissingOccurrencesAsCancelled) {
  model::Event e;
  e.time_zone = "America/Los_Angeles";
  e.start = "2026-03-03T09:00:00-08:00";
  e.end = "2026-03-03T09:30:00-08:00";
  model::Recurrence r;
  r.pattern = "weekly";
  r.days_of_week = {"Tuesday"};
  r.first_day_of_week = "Sunday";
  r.range = "numbered";
  r.start_date = "2026-03-03";
  r.count = 6;
  e.recurrence = r;
  std::vector<EventInstance> instances;
  const char* starts[] = {"2026-03-03T17:00:00Z", "2026-03-10T16:00:00Z", "2026-03-17T16:00:00Z", "2026-03-24T16:00:00Z",
                          "2026-04-07T16:00:00Z"};
  for (const char* s : starts) instances.push_back({std::string("i") + s, "occurrence", "m", "", at(s), true, at(s), at(s) + std::chrono::minutes(30)});
  instances[2].type = "exception";
  instances[2].start = at("2026-03-17T18:00:00Z");
  instances[2].end = at("2026-03-17T18:30:00Z");
  join(e, instances, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
  ASSERT_EQ(e.modified_occurrences.size(), 1u);
  EXPECT_EQ(e.modified_occurrences[0].original_start, "2026-03-17T16:00:00Z");
  EXPECT_EQ(e.modified_occurrences[0].start, "2026-03-17T11:00:00-07:00");
  EXPECT_EQ(e.deleted_occurrences, std::vector<std::string>{"2026-03-31T16:00:00Z"});
}

TEST(GraphEventTest, WritesSendTheWallClockInTheEventsZoneAndOnlyWhatChanged) {
  model::Event e;
  e.subject = "Showing";
  e.time_zone = "America/New_York";
  e.start = "2027-01-05T15:00:00Z";
  e.end = "2027-01-05T16:00:00Z";
  e.reminder_minutes = 10;
  e.free_busy = "Busy";
  auto body = event_create_body(e, "local-1");
  EXPECT_EQ(body.at("start").at("dateTime"), "2027-01-05T10:00:00");
  EXPECT_EQ(body.at("start").at("timeZone"), "Eastern Standard Time");
  EXPECT_EQ(body.at("showAs"), "busy");
  EXPECT_EQ(body.at("singleValueExtendedProperties").at(0).at("value"), "local-1");
  auto after = e;
  after.location = "9 Birch Ln";
  after.reminder_minutes.reset();
  auto patch = event_patch_body(e, after);
  EXPECT_EQ(json::serialize(patch), R"({"location":{"displayName":"9 Birch Ln"},"isReminderOn":false})");
  EXPECT_TRUE(event_patch_body(e, e).empty());
}

}  // namespace
}  // namespace exsync::graph
