// The sync contract under random operation sequences (tests/contract/contract_driver.hpp).
//
// In the suite: a fixed budget of seeds, EXSYNC_CONTRACT_SEEDS of them (default 3) from 1 up,
// EXSYNC_CONTRACT_OPS operations each (default 150). EXSYNC_CONTRACT_SEED=S runs that one seed;
// EXSYNC_CONTRACT_MINUTES=M runs new random seeds until M minutes are up (scripts/soak), and
// EXSYNC_CONTRACT_WEIGHTS="name=w,..." changes operation weights (to aim a run at one area).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "contract_driver.hpp"

namespace exsync::contract {
namespace {

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtol(v, nullptr, 10) : fallback;
}

TEST(SyncContractTest, RandomOperationSequencesKeepTheContract) {
  RunOptions base;
  base.operations = static_cast<int>(env_long("EXSYNC_CONTRACT_OPS", 150));
  // EXSYNC_CONTRACT_WEIGHTS="resync=0,crm.patch=30": other weights for some operations.
  if (const char* w = std::getenv("EXSYNC_CONTRACT_WEIGHTS"); w && *w) {
    std::string list = w;
    for (std::size_t at = 0; at < list.size();) {
      auto comma = list.find(',', at);
      if (comma == std::string::npos) comma = list.size();
      const auto item = list.substr(at, comma - at);
      const auto eq = item.find('=');
      ASSERT_NE(eq, std::string::npos) << "EXSYNC_CONTRACT_WEIGHTS: \"" << item << "\" is not name=weight";
      base.weights[item.substr(0, eq)] = std::atoi(item.c_str() + eq + 1);
      at = comma + 1;
    }
  }
  std::vector<std::uint32_t> seeds;
  const long minutes = env_long("EXSYNC_CONTRACT_MINUTES", 0);
  if (const long one = env_long("EXSYNC_CONTRACT_SEED", 0); one > 0) {
    seeds.push_back(static_cast<std::uint32_t>(one));
  } else if (minutes == 0) {
    for (long s = 1; s <= env_long("EXSYNC_CONTRACT_SEEDS", 3); ++s) seeds.push_back(static_cast<std::uint32_t>(s));
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(minutes);
  std::random_device random;
  int runs = 0, operations = 0, checks = 0, failed = 0;
  for (std::size_t i = 0;; ++i) {
    std::uint32_t seed;
    if (minutes > 0) {
      if (std::chrono::steady_clock::now() >= until) break;
      seed = random() % 1000000000u + 1;
    } else if (i < seeds.size()) {
      seed = seeds[i];
    } else {
      break;
    }
    RunOptions o = base;
    o.seed = seed;
    const auto started = std::chrono::steady_clock::now();
    const auto report = run_contract(o);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
    std::printf("contract: %s\n  (%lld s; EXSYNC_CONTRACT_SEED=%u repeats it)\n", describe(report).c_str(),
                static_cast<long long>(seconds), seed);
    std::fflush(stdout);
    ++runs;
    operations += report.operations;
    checks += report.checks;
    if (!report.violations.empty()) {
      ++failed;
      ADD_FAILURE() << "seed " << seed << " broke the contract:\n" << describe(report);
    }
    if (::testing::Test::HasFatalFailure()) break;
  }
  std::printf("contract: %d runs, %d operations, %d invariant checks, %d runs with violations\n", runs, operations,
              checks, failed);
  EXPECT_GT(runs, 0);
}

}  // namespace
}  // namespace exsync::contract
