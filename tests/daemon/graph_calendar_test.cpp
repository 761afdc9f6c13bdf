// The calendar over Microsoft Graph, against the EWS backend on the same simulated tenant: two
// daemons, one per protocol, each with its own store, must give the CRM the same events (series
// with their moved and cancelled occurrences, all-day events, meetings in several zones), follow
// the same Outlook edits and deletions, and write the CRM's events the same way.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "test_support.hpp"

namespace exsync {
namespace {

namespace json = boost::json;

class GraphCalendarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The EWS daemon keeps the simulator's configuration; the Graph one a copy with its own store.
    std::ifstream in(sim_.config());
    std::stringstream text;
    text << in.rdbuf();
    std::ofstream(graph_config()) << text.str();
    test::edit_config(graph_config(), "path = \"exsync.db\"", "path = \"graph.db\"");
    test::edit_config(graph_config(), "[tenant]\n",
                      "[tenant]\nprotocol = \"graph\"\naccess = \"app\"\nclient_secret_file = \"client.secret\"\n");
  }
  std::filesystem::path graph_config() const { return sim_.dir() / "graph.toml"; }

  test::ProcessResult once(const std::filesystem::path& config) {
    return test::run_process({test::exsyncd_path().string(), "once", "--config", config.string()});
  }

  // The CRM's events of `mailbox` as `config`'s store has them, keyed by iCalUId, without what
  // differs by protocol by design: ids, change keys and ETags.
  std::map<std::string, json::object> events(const std::filesystem::path& config, const std::string& mailbox) {
    auto r = test::run_process(
        {test::exsyncd_path().string(), "items", "--config", config.string(), "--mailbox", mailbox, "--folder", "calendar"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, json::object> out;
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
      auto o = json::parse(line).as_object();
      for (const char* k : {"id", "etag", "ews_id", "remote_id", "change_key"}) o.erase(k);
      if (auto* mods = o.if_contains("modified_occurrences"))
        for (auto& m : mods->as_array()) m.as_object().erase("ews_id");
      const std::string uid(o.at("uid").as_string());
      EXPECT_FALSE(out.contains(uid)) << "two events with uid " << uid << " in " << mailbox;
      out[uid] = std::move(o);
    }
    return out;
  }

  void expect_same_view() {
    for (const auto& mb : sim_.mailboxes()) {
      const auto ews = events(sim_.config(), mb);
      const auto graph = events(graph_config(), mb);
      EXPECT_FALSE(ews.empty()) << mb;
      EXPECT_EQ(graph.size(), ews.size()) << mb;
      for (const auto& [uid, event] : ews) {
        auto it = graph.find(uid);
        ASSERT_NE(it, graph.end()) << mb << ": the Graph store lacks " << json::serialize(event);
        EXPECT_EQ(json::serialize(it->second), json::serialize(event)) << mb << " " << uid;
      }
    }
  }

  std::vector<json::object> sim_events(const std::string& mb) {
    std::vector<json::object> out;
    std::istringstream in(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb) + "/events").body);
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
    return out;
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 3, .events = 10}};
};

TEST_F(GraphCalendarTest, TheCrmSeesTheSameEventsOverGraphAsOverEwsAndFollowsOutlookTheSameWay) {
  ASSERT_EQ(once(sim_.config()).exit_code, 0);
  auto graph_run = once(graph_config());
  ASSERT_EQ(graph_run.exit_code, 0) << graph_run.err;
  expect_same_view();
  EXPECT_EQ(sim_.stat("graph_without_immutable_ids"), 0) << "every Graph request asks for immutable ids";
  // The series came whole: its moved occurrence and its cancelled one (calendar.cpp's sample).
  const auto first = events(graph_config(), sim_.mailboxes()[0]);
  const auto series = std::find_if(first.begin(), first.end(), [](const auto& e) { return e.second.contains("recurrence"); });
  ASSERT_NE(series, first.end());
  EXPECT_NE(json::serialize(series->second).find(R"("original_start":"2026-03-17T16:00:00Z","start":"2026-03-17T11:00:00-07:00")"),
            std::string::npos) << json::serialize(series->second);
  EXPECT_NE(json::serialize(series->second).find(R"("deleted_occurrences":["2026-03-31T16:00:00Z"])"), std::string::npos);

  // With nothing changed, a pass is one delta request per folder: no event is read again.
  sim_.control("POST", "/sim/stats/reset");
  ASSERT_EQ(once(graph_config()).exit_code, 0);
  EXPECT_EQ(sim_.graph_operation_count("calendar_delta"), 2);
  EXPECT_EQ(sim_.graph_operation_count("batch"), 0);
  EXPECT_EQ(sim_.graph_operation_count("list_events"), 0);

  // Outlook renames a series, deletes another series and a single event: both daemons follow.
  const auto mb = sim_.mailboxes()[1];
  const auto base = "/sim/mailboxes/" + test::url_segment(mb) + "/events/";
  std::string renamed, deleted_series, deleted_single;
  for (const auto& e : sim_events(mb)) {
    const std::string id(e.at("ews_id").as_string());
    if (e.contains("recurrence") && renamed.empty()) renamed = id;
    else if (e.contains("recurrence") && deleted_series.empty()) deleted_series = id;
    else if (!e.contains("recurrence") && deleted_single.empty()) deleted_single = id;
  }
  ASSERT_FALSE(renamed.empty() || deleted_series.empty() || deleted_single.empty());
  ASSERT_EQ(sim_.control("PUT", base + test::url_segment(renamed), R"j({"subject":"Pipeline review (new room)","location":"Room 4"})j").status, 204);
  ASSERT_EQ(sim_.control("DELETE", base + test::url_segment(deleted_series)).status, 204);
  ASSERT_EQ(sim_.control("DELETE", base + test::url_segment(deleted_single)).status, 204);
  ASSERT_EQ(once(sim_.config()).exit_code, 0);
  graph_run = once(graph_config());
  ASSERT_EQ(graph_run.exit_code, 0) << graph_run.err;
  expect_same_view();
  const auto after = events(graph_config(), mb);
  EXPECT_EQ(after.size(), sim_events(mb).size());
  bool found_rename = false;
  for (const auto& [uid, e] : after) found_rename |= e.at("subject") == "Pipeline review (new room)";
  EXPECT_TRUE(found_rename);
}

// The CRM's events over Graph: created, edited and deleted in the mailbox once each; a meeting
// written without send_invitations is refused, since Graph would tell its attendees.
TEST_F(GraphCalendarTest, CrmEventsAreWrittenOverGraphAndMeetingsNeedSendInvitations) {
  test::TempDir logs;
  test::poll_every_second(graph_config());
  test::Daemon daemon(graph_config(), logs.path());
  daemon.start();
  const auto log = [&] { return daemon.log(); };
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round", log));
  test::CrmApi api(sim_);
  const auto mb = sim_.mailboxes()[0];
  const auto base = "/v1/mailboxes/" + test::url_segment(mb);
  auto named = [&](const std::string& subject) -> std::optional<json::object> {
    for (auto& e : sim_events(mb))
      if (e.at("subject") == subject.c_str()) return e;
    return std::nullopt;
  };
  auto created = api.call("POST", base + "/events",
                          R"({"subject":"Showing: 9 Birch Ln","start":"2027-01-05T10:00:00-05:00","end":"2027-01-05T11:00:00-05:00","time_zone":"America/New_York","location":"9 Birch Ln"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(json::parse(created.body).at("id").as_string());
  ASSERT_TRUE(test::eventually([&] { return named("Showing: 9 Birch Ln").has_value(); }, "the CRM's event in Exchange", log));
  const auto in_exchange = *named("Showing: 9 Birch Ln");
  EXPECT_EQ(in_exchange.at("start"), "2027-01-05T10:00:00-05:00") << json::serialize(in_exchange);
  EXPECT_EQ(in_exchange.at("time_zone"), "America/New_York");

  auto patched = api.call("PATCH", base + "/events/" + id, R"({"location":"Open house tent"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  ASSERT_TRUE(test::eventually([&] {
    auto e = named("Showing: 9 Birch Ln");
    return e && e->at("location") == "Open house tent";
  }, "the CRM's edit in Exchange", log));

  auto meeting = api.call("POST", base + "/events",
                          R"({"subject":"Offer review","start":"2027-01-06T15:00:00Z","end":"2027-01-06T16:00:00Z","time_zone":"Europe/Berlin","attendees":[{"name":"Ann Buyer","address":"ann@example.com","type":"required"}]})");
  EXPECT_EQ(meeting.status, 422) << meeting.body;
  EXPECT_NE(meeting.body.find("send_invitations=true"), std::string::npos) << meeting.body;
  auto invited = api.call("POST", base + "/events?send_invitations=true",
                          R"({"subject":"Offer review","start":"2027-01-06T15:00:00Z","end":"2027-01-06T16:00:00Z","time_zone":"Europe/Berlin","attendees":[{"name":"Ann Buyer","address":"ann@example.com","type":"required"}]})");
  EXPECT_EQ(invited.status, 201) << invited.body;
  ASSERT_TRUE(test::eventually([&] { return named("Offer review").has_value(); }, "the meeting in Exchange", log));

  ASSERT_EQ(api.call("DELETE", base + "/events/" + id).status, 204);
  ASSERT_TRUE(test::eventually([&] { return !named("Showing: 9 Birch Ln"); }, "the CRM's deletion in Exchange", log));
  int showings = 0;
  for (const auto& e : sim_events(mb)) showings += e.at("subject") == "Offer review";
  EXPECT_EQ(showings, 1) << "the meeting was created once";
  ASSERT_TRUE(daemon.stop());
}

// Outlook renames one occurrence of a series and moves it to another room: the CRM sees the
// occurrence's own subject and location wherever it looks (the stored item, the calendar view
// of a window), over EWS and over Graph alike, and the rest of the series as it was.
TEST_F(GraphCalendarTest, ARenamedOccurrenceShowsItsOwnDetailsWhereverTheCrmLooks) {
  const auto mb = sim_.mailboxes()[0];
  std::string series_id, series_subject;
  for (const auto& e : sim_events(mb))
    if (e.contains("recurrence") && series_id.empty()) {
      series_id = std::string(e.at("ews_id").as_string());
      series_subject = std::string(e.at("subject").as_string());
    }
  ASSERT_FALSE(series_id.empty());
  // The sample series: Tuesdays at 09:00 in Los Angeles from 3 March 2026; the second one.
  const std::string original = "2026-03-10T16:00:00Z";
  ASSERT_EQ(sim_.control("PUT", "/sim/mailboxes/" + test::url_segment(mb) + "/events/" + test::url_segment(series_id) +
                                    "/occurrences/" + original,
                         R"({"subject":"Pipeline review with the lender","location":"Bank, 2nd floor"})").status, 204);
  test::poll_every_second(graph_config());
  test::poll_every_second(sim_.config());
  for (const auto& config : {sim_.config(), graph_config()}) {
    SCOPED_TRACE(config.filename().string());
    ASSERT_EQ(once(config).exit_code, 0);
    bool stored = false;
    for (const auto& [uid, e] : events(config, mb)) {
      if (!e.contains("modified_occurrences")) continue;
      for (const auto& m : e.at("modified_occurrences").as_array())
        if (m.at("original_start") == original.c_str()) {
          stored = true;
          EXPECT_EQ(m.at("subject"), "Pipeline review with the lender") << json::serialize(m);
          EXPECT_EQ(m.at("location"), "Bank, 2nd floor");
          EXPECT_EQ(e.at("subject"), series_subject.c_str()) << "the series keeps its own";
        }
    }
    EXPECT_TRUE(stored) << "the renamed occurrence is a modified one";
    test::TempDir logs;
    test::Daemon daemon(config, logs.path());
    daemon.start();
    test::CrmApi api(sim_);
    auto view = api.call("GET", "/v1/mailboxes/" + test::url_segment(mb) +
                                    "/events?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z");
    ASSERT_EQ(view.status, 200) << view.body;
    int renamed = 0, as_series = 0;
    const auto parsed = json::parse(view.body);
    for (const auto& o : parsed.at("occurrences").as_array()) {
      // (The sample has two such series: the other's occurrence that Tuesday is no exception.)
      if (o.at("original_start") == original.c_str() && o.at("modified") == true) {
        ++renamed;
        EXPECT_EQ(o.at("subject"), "Pipeline review with the lender");
        EXPECT_EQ(o.at("location"), "Bank, 2nd floor");
      } else if (o.at("subject") == series_subject.c_str()) {
        ++as_series;
      }
    }
    EXPECT_EQ(renamed, 1) << view.body;
    EXPECT_GT(as_series, 1) << view.body;
    ASSERT_TRUE(daemon.stop());
  }
  expect_same_view();
}

}  // namespace
}  // namespace exsync
