// The simulator is a faithful EWS endpoint, not a mirror of exsyncd: exchangelib, a third-party
// EWS client (Debian's python3-exchangelib), syncs its contacts folders with impersonation.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>
#include <sstream>

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

}  // namespace
}  // namespace exsync
