// Series written from the CRM, over EWS and over Graph with the same test: a weekly showing
// created with its pattern, one occurrence moved and renamed, another cancelled, the series ended
// early, renamed and deleted. Each step lands in the simulated mailbox once, and the CRM's own
// view (items and the calendar of a window) is the mailbox's after the next sync.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

class SeriesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "graph")
      test::edit_config(sim_.config(), "[tenant]\n",
                        "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
    test::poll_every_second(sim_.config());
  }

  // The mailbox's series and events with `subject`, as the simulator holds them.
  std::vector<json::object> in_mailbox(const std::string& subject) {
    std::vector<json::object> out;
    std::istringstream in(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb_) + "/events").body);
    std::string line;
    while (std::getline(in, line)) {
      auto o = json::parse(line).as_object();
      if (!o.contains("subject")) ADD_FAILURE() << line;
      if (o.contains("subject") && o.at("subject") == subject.c_str()) out.push_back(std::move(o));
    }
    return out;
  }

  // What the CRM's calendar shows for January 2027.
  json::array january(test::CrmApi& api) {
    auto view = api.call("GET", base() + "/events?start=2027-01-01T00:00:00Z&end=2027-02-01T00:00:00Z");
    EXPECT_EQ(view.status, 200) << view.body << (daemon_ ? daemon_->log() : std::string());
    if (view.status != 200) return {};
    return json::parse(view.body).at("occurrences").as_array();
  }

  std::string base() const { return "/v1/mailboxes/" + test::url_segment(mb_); }

  test::Simulator sim_{test::SimOptions{.mailboxes = 1, .contacts = 1, .events = 0}};
  test::Daemon* daemon_ = nullptr;  // for the log, when the daemon stops answering
  std::string mb_ = sim_.mailboxes()[0];
};

// Mondays and Wednesdays at 09:00 in Chicago (15:00 UTC in January), ten times.
constexpr const char* kSeries =
    R"j({"subject":"Open house: 12 Elm St","location":"12 Elm St","start":"2027-01-04T09:00:00-06:00",
         "end":"2027-01-04T10:00:00-06:00","time_zone":"America/Chicago","reminder_minutes":30,
         "recurrence":{"pattern":"weekly","interval":1,"days_of_week":["Monday","Wednesday"],"first_day_of_week":"Sunday",
                       "range":"numbered","start_date":"2027-01-04","count":10}})j";

TEST_P(SeriesTest, TheCrmCreatesAndChangesASeriesAndItsOccurrences) {
  test::TempDir logs;
  test::Daemon daemon(sim_.config(), logs.path());
  daemon_ = &daemon;
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round", log));
  test::CrmApi api(sim_);

  // Refused before anything is stored: a pattern without its days, a new series with exceptions.
  auto no_days = api.call("POST", base() + "/events",
                          R"j({"subject":"x","start":"2027-01-04T09:00:00-06:00","end":"2027-01-04T10:00:00-06:00","time_zone":"America/Chicago",
                               "recurrence":{"pattern":"weekly","interval":1,"range":"no_end","start_date":"2027-01-04"}})j");
  EXPECT_EQ(no_days.status, 422) << no_days.body;
  EXPECT_NE(no_days.body.find("days_of_week"), std::string::npos) << no_days.body;
  auto wrong_date = api.call("POST", base() + "/events",
                             R"j({"subject":"x","start":"2027-01-04T09:00:00-06:00","end":"2027-01-04T10:00:00-06:00","time_zone":"America/Chicago",
                                  "recurrence":{"pattern":"daily","interval":1,"range":"no_end","start_date":"2027-01-05"}})j");
  EXPECT_EQ(wrong_date.status, 422) << wrong_date.body;
  auto with_exceptions = json::parse(kSeries).as_object();
  with_exceptions["deleted_occurrences"] = json::array{"2027-01-06T15:00:00Z"};
  EXPECT_EQ(api.call("POST", base() + "/events", json::serialize(with_exceptions)).status, 422);

  auto created = api.call("POST", base() + "/events", kSeries);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(json::parse(created.body).at("id").as_string());
  const std::string series = base() + "/events/" + id;
  ASSERT_TRUE(test::eventually([&] { return in_mailbox("Open house: 12 Elm St").size() == 1; }, "the series in the mailbox", log));
  {
    const auto in_exchange = in_mailbox("Open house: 12 Elm St").front();
    const auto& r = in_exchange.at("recurrence").as_object();
    EXPECT_EQ(r.at("pattern"), "weekly") << json::serialize(in_exchange);
    EXPECT_EQ(json::serialize(r.at("days_of_week")), R"(["Monday","Wednesday"])");
    EXPECT_EQ(r.at("range"), "numbered");
    EXPECT_EQ(r.at("count"), 10);
    EXPECT_EQ(in_exchange.at("start"), "2027-01-04T09:00:00-06:00");
    EXPECT_EQ(in_exchange.at("time_zone"), "America/Chicago");
  }

  // An occurrence the pattern does not have, and one named by something else than an instant.
  EXPECT_EQ(api.call("DELETE", series + "/occurrences/2027-01-05T15:00:00Z").status, 404);
  EXPECT_EQ(api.call("PATCH", series + "/occurrences/tomorrow", R"({"subject":"x"})").status, 400);
  EXPECT_EQ(api.call("PATCH", series + "/occurrences/2027-01-06T15:00:00Z", R"({"attendees":[]})").status, 422);
  // Occurrences change through their own route, not the series'.
  EXPECT_EQ(api.call("PATCH", series, R"({"deleted_occurrences":["2027-01-06T15:00:00Z"]})").status, 422);

  // Wednesday the 6th moves to 10:00 and is renamed; Monday the 11th is cancelled.
  auto moved = api.call("PATCH", series + "/occurrences/2027-01-06T15:00:00Z",
                        R"j({"subject":"Open house: 12 Elm St (broker preview)","start":"2027-01-06T10:00:00-06:00","end":"2027-01-06T11:30:00-06:00"})j");
  ASSERT_EQ(moved.status, 200) << moved.body;
  const auto moved_json = json::parse(moved.body).as_object();
  ASSERT_EQ(moved_json.at("modified_occurrences").as_array().size(), 1u) << moved.body;
  auto cancelled = api.call("DELETE", series + "/occurrences/2027-01-11T09:00:00-06:00");
  ASSERT_EQ(cancelled.status, 204) << cancelled.body << daemon.log();
  EXPECT_FALSE(cancelled.header("ETag").empty());
  EXPECT_EQ(api.call("DELETE", series + "/occurrences/2027-01-11T15:00:00Z").status, 404) << "cancelled already";

  ASSERT_TRUE(test::eventually([&] {
    auto now = in_mailbox("Open house: 12 Elm St");
    if (now.size() != 1) return false;
    const auto text = json::serialize(now.front());
    return text.find(R"("deleted_occurrences":["2027-01-11T15:00:00Z"])") != std::string::npos &&
           text.find("broker preview") != std::string::npos;
  }, "the moved and the cancelled occurrence in the mailbox", log));
  {
    const auto in_exchange = in_mailbox("Open house: 12 Elm St").front();
    const auto& mods = in_exchange.at("modified_occurrences").as_array();
    ASSERT_EQ(mods.size(), 1u) << json::serialize(in_exchange);
    EXPECT_EQ(mods[0].at("original_start"), "2027-01-06T15:00:00Z");
    EXPECT_EQ(mods[0].at("start"), "2027-01-06T10:00:00-06:00");
    EXPECT_EQ(mods[0].at("end"), "2027-01-06T11:30:00-06:00");
    EXPECT_EQ(mods[0].at("location"), "12 Elm St") << "what the CRM left alone is the series'";
    EXPECT_EQ(mods[0].at("reminder_minutes"), 30);
  }
  // The CRM's calendar, once the outbox is empty: January holds eight of the ten, one cancelled
  // and one renamed and moved.
  ASSERT_TRUE(test::eventually([&] {
    auto outbox = api.call("GET", base() + "/outbox");
    return outbox.status == 200 && json::parse(outbox.body).at("outbox").as_array().empty();
  }, "the outbox empty", log));
  {
    const auto occurrences = january(api);
    EXPECT_EQ(occurrences.size(), 7u) << json::serialize(occurrences);
    int renamed = 0;
    for (const auto& o : occurrences) {
      EXPECT_NE(o.at("original_start"), "2027-01-11T15:00:00Z");
      if (o.at("subject") == "Open house: 12 Elm St (broker preview)") {
        ++renamed;
        EXPECT_EQ(o.at("start"), "2027-01-06T10:00:00-06:00");
      }
    }
    EXPECT_EQ(renamed, 1);
  }

  // The series ends early (after the 20th) and is renamed; the renamed occurrence keeps its name.
  auto current = api.call("GET", series);
  auto ended = json::parse(current.body).at("recurrence").as_object();
  ended["range"] = "end_date";
  ended["end_date"] = "2027-01-20";
  ended.erase("count");
  auto stale = api.call("PATCH", series, json::serialize(json::object{{"subject", "x"}}), {"If-Match: \"stale\""});
  EXPECT_EQ(stale.status, 412);
  auto end_it = api.call("PATCH", series,
                         json::serialize(json::object{{"recurrence", ended}, {"subject", "Open house: 12 Elm St, last weeks"}}),
                         {"If-Match: " + current.header("ETag")});
  ASSERT_EQ(end_it.status, 200) << end_it.body;
  ASSERT_TRUE(test::eventually([&] {
    auto now = in_mailbox("Open house: 12 Elm St, last weeks");
    return now.size() == 1 && now.front().at("recurrence").at("range") == "end_date";
  }, "the ended series in the mailbox", log));
  EXPECT_EQ(in_mailbox("Open house: 12 Elm St, last weeks").front().at("recurrence").at("end_date"), "2027-01-20");
  ASSERT_TRUE(test::eventually([&] {
    auto occurrences = january(api);
    return occurrences.size() == 5;  // 4, 6 (moved), 13, 18, 20
  }, "the CRM's calendar of the ended series", log));
  int renamed = 0;
  for (const auto& o : january(api)) renamed += o.at("subject") == "Open house: 12 Elm St (broker preview)";
  EXPECT_EQ(renamed, 1) << json::serialize(january(api));

  // The series goes, with its occurrences.
  ASSERT_EQ(api.call("DELETE", series).status, 204);
  ASSERT_TRUE(test::eventually([&] { return in_mailbox("Open house: 12 Elm St, last weeks").empty(); }, "the series deleted", log));
  ASSERT_TRUE(test::eventually([&] { return january(api).empty(); }, "the CRM's calendar empty", log));
  EXPECT_EQ(daemon.log().find("event=sync.write.parked"), std::string::npos) << daemon.log();
  ASSERT_TRUE(daemon.stop());
}

INSTANTIATE_TEST_SUITE_P(Backends, SeriesTest, ::testing::Values("ews", "graph"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace exsync
