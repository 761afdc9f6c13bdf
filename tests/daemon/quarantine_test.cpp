// A poison item under `exsyncd run`: what an operator and the CRM see of it.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

TEST(QuarantineTest, APoisonItemIsShownInTheApiStatusAndMetricsAndTheFolderKeepsSyncing) {
  test::Simulator sim(test::SimOptions{.mailboxes = 1, .contacts = 5, .events = 1});
  test::poll_every_second(sim.config());
  const auto mb = sim.mailboxes()[0];
  const auto seg = test::url_segment(mb);
  const auto poison = sim.contacts(mb).begin()->first;
  ASSERT_EQ(sim.control("PUT", "/sim/mailboxes/" + seg + "/poison/" + test::url_segment(poison), R"({"code":"ErrorCorruptData"})").status, 204);

  test::TempDir logs;
  test::Daemon daemon(sim.config(), logs.path());
  daemon.start();
  test::CrmApi api(sim);
  auto until = [&](std::function<bool()> done, const char* what) {
    ASSERT_TRUE(test::eventually(done, what, [&] { return daemon.log(); }));
  };
  auto folder = [&] {
    auto a = api.call("GET", "/v1/mailboxes");
    if (a.status != 200) return json::object{};
    auto v = json::parse(a.body);
    auto* f = v.at("mailboxes").at(0).at("folders").as_object().if_contains("contacts");
    return f ? f->as_object() : json::object{};
  };
  until([&] { return folder().contains("quarantined") && folder().at("quarantined").as_int64() == 1 &&
                     folder().at("items").as_int64() == 4; }, "the poison item quarantined, the other four stored");

  auto q = api.call("GET", "/v1/mailboxes/" + seg + "/quarantine");
  ASSERT_EQ(q.status, 200);
  const auto entry = json::parse(q.body).at("quarantine").at(0).as_object();
  EXPECT_EQ(entry.at("ews_id").as_string(), poison);
  EXPECT_EQ(entry.at("code").as_string(), "ErrorCorruptData");
  EXPECT_EQ(entry.at("folder").as_string(), "contacts");
  EXPECT_TRUE(entry.at("id").is_null()) << "never stored, so no local id";
  EXPECT_NE(api.call("GET", "/metrics").body.find("exsync_items_quarantined 1\n"), std::string::npos);
  auto status = test::run_process({test::exsyncd_path().string(), "status", "--config", sim.config().string(), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto row = json::parse(status.out).at("mailboxes").at(0).as_object();
  EXPECT_EQ(row.at("state").as_string(), "quarantine");
  EXPECT_EQ(row.at("quarantined").as_int64(), 1);
  EXPECT_NE(daemon.log().find("event=sync.item.quarantined"), std::string::npos);

  // The folder keeps syncing around it.
  ASSERT_EQ(sim.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"Later"})").status, 201);
  until([&] { return folder().at("items").as_int64() == 5; }, "a contact added after the poison arrives");

  // Healed and edited in Outlook: it comes in and leaves quarantine.
  ASSERT_EQ(sim.control("DELETE", "/sim/mailboxes/" + seg + "/poison/" + test::url_segment(poison)).status, 204);
  ASSERT_EQ(sim.control("PATCH", "/sim/mailboxes/" + seg + "/contacts/" + test::url_segment(poison), R"({"company":"Fixed"})").status, 200);
  until([&] { return folder().at("items").as_int64() == 6 && folder().at("quarantined").as_int64() == 0; },
        "the healed item stored");
  EXPECT_NE(api.call("GET", "/metrics").body.find("exsync_items_quarantined 0\n"), std::string::npos);
  ASSERT_TRUE(daemon.stop());
}

}  // namespace
}  // namespace exsync
