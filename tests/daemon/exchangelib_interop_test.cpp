// The simulator is a faithful EWS endpoint, not a mirror of exsyncd: exchangelib, a third-party
// EWS client (Debian's python3-exchangelib), syncs its contacts folders with impersonation and
// reads its calendar (views, series, occurrences) as Exchange answers them.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <sstream>

#include "exsync/core/time_format.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

TEST(ExchangelibInteropTest, ExchangelibSyncsAContactsFolderWithImpersonation) {
  auto probe = test::run_process({"/usr/bin/python3", "-c", "import exchangelib"});
  if (probe.exit_code != 0) GTEST_SKIP() << "python3-exchangelib is not installed: " << probe.err;

  test::Simulator sim(test::SimOptions{.mailboxes = 2, .contacts = 30});
  const std::string mailbox = "agent2@contoso.onmicrosoft.com";
  auto r = test::run_process({"/usr/bin/python3", (test::source_dir() / "tests" / "interop" / "exchangelib_sync.py").string(),
                              sim.dir().string(), mailbox});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::set<std::string> synced;
  std::map<std::string, std::string> names;
  std::istringstream in(r.out);
  std::string line;
  bool got_state = false;
  while (std::getline(in, line)) {
    auto v = boost::json::parse(line).as_object();
    if (v.contains("sync_state")) {
      got_state = !v.at("sync_state").as_string().empty();
      continue;
    }
    EXPECT_EQ(v.at("change").as_string(), "create");
    const std::string id(v.at("ews_id").as_string());
    synced.insert(id);
    names[id] = std::string(v.at("display_name").as_string());
  }
  EXPECT_TRUE(got_state);
  const auto want = sim.contacts(mailbox);
  EXPECT_EQ(synced.size(), want.size());
  for (const auto& [id, json] : want) {
    ASSERT_TRUE(synced.contains(id)) << json;
    EXPECT_EQ(names[id], std::string(boost::json::parse(json).at("display_name").as_string()));
  }
  sim.expect_schema_valid_requests();
  EXPECT_GE(sim.operation_count("SyncFolderItems"), 1);
}

std::vector<boost::json::object> exchangelib(const test::Simulator& sim, const std::string& mailbox,
                                             std::vector<std::string> mode) {
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   (test::source_dir() / "tests" / "interop" / "exchangelib_sync.py").string(),
                                   sim.dir().string(), mailbox};
  argv.insert(argv.end(), mode.begin(), mode.end());
  auto r = test::run_process(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<boost::json::object> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) out.push_back(boost::json::parse(line).as_object());
  return out;
}

std::string utc(const boost::json::value& v) {
  auto t = parse_xs_datetime(std::string(v.as_string()));
  return t ? format_rfc3339_utc(*t) : std::string(v.as_string());
}

// exchangelib reads the calendar as Exchange answers it: a calendar view expands each series
// into its occurrences and exceptions (no master), an occurrence renamed in Outlook shows its
// own subject, and the view is the same the CRM gets from the daemon for that window. Masters
// give their exceptions by id and each occurrence by its place in the pattern, a cancelled one
// and one past the range refused with Exchange's codes.
TEST(ExchangelibInteropTest, ExchangelibReadsSeriesAndTheirOccurrencesAsExchangeAnswersThem) {
  test::Simulator sim(test::SimOptions{.mailboxes = 1, .contacts = 2, .events = 10});
  const auto mailbox = sim.mailboxes()[0];
  std::string first_series;
  {
    std::istringstream in(sim.control("GET", "/sim/mailboxes/" + test::url_segment(mailbox) + "/events").body);
    for (std::string line; std::getline(in, line) && first_series.empty();) {
      auto e = boost::json::parse(line).as_object();
      if (e.contains("recurrence")) first_series = std::string(e.at("ews_id").as_string());
    }
  }
  ASSERT_FALSE(first_series.empty());
  ASSERT_EQ(sim.control("PUT", "/sim/mailboxes/" + test::url_segment(mailbox) + "/events/" + test::url_segment(first_series) +
                                   "/occurrences/2026-03-10T16:00:00Z",
                        R"({"subject":"Pipeline review with the lender"})").status, 204);

  const auto view = exchangelib(sim, mailbox, {"view", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"});
  std::multiset<std::pair<std::string, std::string>> seen;  // (UTC start, subject), all-day events aside
  int renamed = 0, moved = 0;
  for (const auto& v : view) {
    EXPECT_NE(v.at("type"), "RecurringMaster") << "a view lists occurrences, not masters";
    const std::string start(v.at("start").as_string());
    if (start.find('T') == std::string::npos) continue;
    EXPECT_NE(utc(v.at("start")), "2026-03-31T16:00:00Z") << "the cancelled occurrence is not on the calendar";
    seen.insert({utc(v.at("start")), std::string(v.at("view_subject").as_string())});
    renamed += v.at("view_subject") == "Pipeline review with the lender";
    if (v.at("type") == "Exception" && utc(v.at("original_start")) == "2026-03-17T16:00:00Z") {
      ++moved;
      EXPECT_EQ(utc(v.at("start")), "2026-03-17T18:00:00Z");
    }
  }
  EXPECT_EQ(renamed, 1);
  EXPECT_EQ(moved, 2) << "both sample series moved their third occurrence";

  // The CRM's view of the same window, from the daemon's store, is the same.
  test::TempDir logs;
  test::Daemon daemon(sim.config(), logs.path());
  daemon.start();
  ASSERT_TRUE(test::eventually([&] { return daemon.log().find("event=sync.round.done") != std::string::npos; },
                               "the first round", [&] { return daemon.log(); }));
  test::CrmApi api(sim);
  auto crm = api.call("GET", "/v1/mailboxes/" + test::url_segment(mailbox) +
                                 "/events?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z");
  ASSERT_EQ(crm.status, 200) << crm.body;
  std::multiset<std::pair<std::string, std::string>> crm_view;
  const auto crm_json = boost::json::parse(crm.body);
  for (const auto& o : crm_json.at("occurrences").as_array())
    if (o.at("all_day") == false) crm_view.insert({utc(o.at("start")), std::string(o.at("subject").as_string())});
  EXPECT_EQ(crm_view, seen);
  ASSERT_TRUE(daemon.stop());

  int masters = 0;
  for (const auto& v : exchangelib(sim, mailbox, {"series"})) {
    if (v.contains("master")) {
      ++masters;
      EXPECT_EQ(v.at("first"), "2026-03-03T17:00:00+00:00");
      EXPECT_EQ(boost::json::serialize(v.at("deleted")), R"(["2026-03-31T16:00:00+00:00"])");
    } else if (v.contains("exception")) {
      EXPECT_EQ(v.at("type"), "Exception");
      // The moved one; in the first series, also the renamed one.
      if (v.at("exception") == "Pipeline review with the lender") EXPECT_EQ(utc(v.at("start")), "2026-03-10T16:00:00Z");
      else EXPECT_EQ(utc(v.at("start")), "2026-03-17T18:00:00Z");
    } else if (v.contains("master_of_occurrence")) {
      EXPECT_EQ(v.at("master_of_occurrence"), v.at("of")) << "RecurringMasterItemId names the occurrence's series";
    } else if (v.contains("index")) {
      const auto index = v.at("index").as_int64();
      SCOPED_TRACE("occurrence " + std::to_string(index) + " of " + std::string(v.at("of").as_string()));
      if (index == 5) EXPECT_EQ(v.at("error"), "ErrorCalendarOccurrenceIsDeletedFromRecurrence");
      else if (index > 6) EXPECT_EQ(v.at("error"), "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange");
      else EXPECT_EQ(v.at("type"), index == 3 || (index == 2 && v.at("of") == first_series.c_str()) ? "Exception" : "Occurrence")
          << boost::json::serialize(v);
      if (index == 2 && v.at("of") == first_series.c_str()) EXPECT_EQ(v.at("subject"), "Pipeline review with the lender");
    }
  }
  EXPECT_EQ(masters, 2);
  sim.expect_schema_valid_requests();
}

}  // namespace
}  // namespace exsync
