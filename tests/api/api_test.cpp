// The CRM's API, served by the real exsyncd (run mode) over the real store, synced from the
// real simulator, and called with curl as a CRM would.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <sstream>
#include <thread>

#include "test_support.hpp"

namespace exsync {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

struct HttpResult {
  int status = 0;
  std::string body;
  std::string headers;  // the response's header block, when asked for
  json::value json() const { return json::parse(body); }
};

class ApiTest : public ::testing::Test {
 protected:
  virtual int interval_seconds() const { return 1; }
  void SetUp() override {
    test::edit_config(sim_.config(), "interval_seconds = 10", "interval_seconds = " + std::to_string(interval_seconds()));
    token_ = test::read_file(sim_.dir() / "api.token");
    token_.pop_back();
    base_ = "http://" + test::api_address(sim_);
    daemon_ = std::make_unique<test::Process>(
        std::vector<std::string>{test::exsyncd_path().string(), "run", "--config", sim_.config().string()}, logs_.path(),
        "exsyncd");
    wait_for_log("event=sync.round.done", 1);
  }
  void TearDown() override {
    daemon_->signal(SIGTERM);
    auto r = daemon_->wait(10s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 0) << r->err;
    // Every exchange of the test, checked against the API's contract.
    if (!exchanges_.empty()) {
      const auto file = logs_ / "exchanges.jsonl";
      test::write_file(file, exchanges_);
      EXPECT_EQ(test::openapi_violations(file), "") << "API exchanges that docs/openapi.yaml does not describe";
    }
  }

  // Waits until `needle` has appeared `count` times in the daemon's log.
  void wait_for_log(const std::string& needle, int count) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      const auto log = daemon_->stderr_text();
      int n = 0;
      for (auto pos = log.find(needle); pos != std::string::npos; pos = log.find(needle, pos + 1)) ++n;
      if (n >= count) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "waiting for " << needle << "\n" << log;
      std::this_thread::sleep_for(20ms);
    }
  }
  int passes() {
    const auto log = daemon_->stderr_text();
    int n = 0;
    for (auto pos = log.find("event=sync.round.done"); pos != std::string::npos; pos = log.find("event=sync.round.done", pos + 1)) ++n;
    return n;
  }

  // Sends `body` (written to a file first, so that any bytes go through unchanged).
  HttpResult send(const std::string& method, const std::string& path, const std::string& body) {
    const auto file = logs_ / ("body-" + std::to_string(++bodies_) + ".json");
    test::write_file(file, body);
    return call(method, path, "use-default", file.string());
  }
  // Polls the simulator until `pred` holds for the mailbox's contacts.
  template <typename Pred>
  bool eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(sim_.contacts(agent1))) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // With request headers ("If-Match: ..."), and the response's headers kept.
  HttpResult send_with(const std::string& method, const std::string& path, const std::string& body,
                       const std::vector<std::string>& headers) {
    const auto file = logs_ / ("body-" + std::to_string(++bodies_) + ".json");
    const auto head = logs_ / ("head-" + std::to_string(bodies_) + ".txt");
    test::write_file(file, body);
    std::vector<std::string> extra = {"-D", head.string()};
    for (const auto& h : headers) extra.insert(extra.end(), {"-H", h});
    auto r = call(method, path, "use-default", body.empty() ? "" : file.string(), extra);
    r.headers = test::read_file(head);
    return r;
  }

  HttpResult call(const std::string& method, const std::string& path, const std::string& token = "use-default",
                  const std::string& body_file = "", const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-X", method, "-w", "\n%{content_type}\n%{http_code}", base_ + path};
    argv.insert(argv.begin() + 1, extra.begin(), extra.end());
    if (token == "use-default") argv.insert(argv.begin() + 1, {"-H", "Authorization: Bearer " + token_});
    else if (!token.empty()) argv.insert(argv.begin() + 1, {"-H", "Authorization: Bearer " + token});
    if (!body_file.empty()) argv.insert(argv.begin() + 1, {"--data-binary", "@" + body_file});
    auto r = test::run_process(argv, 30s);
    HttpResult out;
    auto nl = r.out.rfind('\n');
    EXPECT_NE(nl, std::string::npos) << r.err;
    out.status = std::stoi(r.out.substr(nl + 1));
    const auto type_at = r.out.rfind('\n', nl - 1);
    const std::string content_type = r.out.substr(type_at + 1, nl - type_at - 1);
    out.body = r.out.substr(0, type_at);
    exchanges_ += boost::json::serialize(boost::json::object{
                      {"method", method},
                      {"target", path},
                      {"request_body", body_file.empty() ? std::string() : test::read_file(body_file)},
                      {"status", out.status},
                      {"content_type", content_type},
                      {"body", out.body}}) +
                  "\n";
    return out;
  }

  const std::string agent1 = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 3, .contacts = 25}};
  test::TempDir logs_;
  std::unique_ptr<test::Process> daemon_;
  std::string token_;
  std::string base_;
  int bodies_ = 0;
  std::string exchanges_;  // JSON lines, checked against docs/openapi.yaml in TearDown
};

TEST_F(ApiTest, EveryRequestNeedsTheBearerToken) {
  auto none = call("GET", "/v1/health", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json().at("error"), "unauthorized");
  auto wrong = call("GET", "/v1/mailboxes", token_.substr(0, token_.size() - 1) + "x");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body.find("agent1"), std::string::npos) << "no data without the token";
  auto ok = call("GET", "/v1/health");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json().at("status"), "ok");
  EXPECT_EQ(daemon_->stderr_text().find(token_), std::string::npos) << "the token is never logged";
}

TEST_F(ApiTest, MailboxesShowTheirSyncStatus) {
  auto r = call("GET", "/v1/mailboxes");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto v = r.json();
  const auto& list = v.at("mailboxes").as_array();
  ASSERT_EQ(list.size(), 3u);
  for (const auto& m : list) {
    const auto& contacts = m.at("folders").at("contacts");
    EXPECT_EQ(contacts.at("items").as_int64(), 25);
    EXPECT_TRUE(contacts.at("last_success").is_string());
    EXPECT_TRUE(contacts.at("last_error").is_null());
    // Where the mailbox stands in the daemon's schedule.
    const auto& sync = m.at("sync");
    EXPECT_EQ(sync.at("failures").as_int64(), 0);
    EXPECT_TRUE(sync.at("last_success").is_string()) << json::serialize(sync);
    EXPECT_TRUE(sync.at("last_error").is_null());
    const std::string state(sync.at("state").as_string());
    EXPECT_TRUE(state == "waiting" || state == "due" || state == "syncing") << state;
  }
}

// Prometheus scrapes GET /metrics with the same bearer token.
// The contract itself: a valid OpenAPI 3.1 document (the npm validator's schema check), every
// operation with an id, a summary and an example or schema for its JSON answers.
TEST(OpenApiDocumentTest, IsAValidOpenApi31DocumentWithSummariesAndExamples) {
  const auto tools = test::source_dir() / "tests" / "interop" / "openapi";
  ASSERT_TRUE(std::filesystem::exists(tools / "node_modules" / "ajv")) << "scripts/test installs the npm tools";
  auto r = test::run_process({"/usr/bin/node", (tools / "validate.mjs").string(), "--lint",
                              (test::source_dir() / "docs" / "openapi.yaml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

// GET /v1/openapi.json is docs/openapi.yaml, whole, as JSON.
TEST_F(ApiTest, ServesItsOpenApiDocument) {
  auto r = call("GET", "/v1/openapi.json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto yaml = test::run_process({"/usr/bin/python3", "-c",
                                 "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
                                 (test::source_dir() / "docs" / "openapi.yaml").string()});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  const auto served = boost::json::parse(r.body);
  EXPECT_EQ(served, boost::json::parse(yaml.out));
  EXPECT_EQ(served.at("openapi"), "3.1.0");
  EXPECT_EQ(served.at("paths").as_object().size(), 19u) << "one path for each route (the API and Graph's notifications)";
}

// A CRM developer generates a client from the served document with a generator from the npm
// registry (swagger-typescript-api) and uses it: a create, a PATCH with If-Match (and one with a
// stale ETag, refused), a feed read. The contact reaches Exchange as written.
TEST_F(ApiTest, AClientGeneratedFromTheDocumentCreatesPatchesWithIfMatchAndReadsTheFeed) {
  const auto tools = test::source_dir() / "tests" / "interop" / "openapi";
  auto doc = call("GET", "/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  test::write_file(logs_ / "openapi.json", doc.body);
  auto gen = test::run_process({"/usr/bin/node", (tools / "node_modules" / "swagger-typescript-api" / "dist" / "cli.js").string(),
                                "-p", (logs_ / "openapi.json").string(), "-o", (logs_ / "client").string(), "-n",
                                "exsync.js", "--js"},
                               std::chrono::seconds(120));
  ASSERT_EQ(gen.exit_code, 0) << gen.out << gen.err;
  ASSERT_TRUE(std::filesystem::exists(logs_ / "client" / "exsync.js")) << gen.out;
  auto peer = test::run_process({"/usr/bin/node", (tools / "client_peer.mjs").string(), (logs_ / "client" / "exsync.js").string(),
                                 base_, token_, agent1},
                                std::chrono::seconds(60));
  ASSERT_EQ(peer.exit_code, 0) << peer.out << peer.err;
  const auto seen = boost::json::parse(peer.out).as_object();
  SCOPED_TRACE(peer.out);
  EXPECT_EQ(seen.at("create").at("status"), 201);
  EXPECT_EQ(seen.at("create").at("etag"), seen.at("create").at("etag_header"));
  EXPECT_EQ(seen.at("patch").at("status"), 200);
  EXPECT_EQ(seen.at("patch").at("job_title"), "Buyer");
  EXPECT_NE(seen.at("patch").at("etag"), seen.at("create").at("etag"));
  EXPECT_EQ(seen.at("stale").at("status"), 412);
  EXPECT_EQ(seen.at("stale").at("error"), "precondition_failed");
  EXPECT_EQ(seen.at("stale").at("current_job_title"), "Buyer");
  EXPECT_EQ(seen.at("feed").at("status"), 200);
  EXPECT_GE(seen.at("feed").at("cursor").as_int64(), 0);
  EXPECT_TRUE(eventually([](const std::map<std::string, std::string>& contacts) {
    for (const auto& [id, line] : contacts)
      if (line.find("Generated client lead") != std::string::npos && line.find("Buyer") != std::string::npos) return true;
    return false;
  })) << "the generated client's contact in Exchange";
}

TEST_F(ApiTest, MetricsInPrometheusTextFormat) {
  EXPECT_EQ(call("GET", "/metrics", "").status, 401);
  auto created = send("POST", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts", R"({"display_name":"Queued"})");
  ASSERT_EQ(created.status, 201);
  auto r = call("GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  // Every sample belongs to a family declared just before it with HELP and TYPE.
  std::istringstream in(r.body);
  std::string line, family;
  std::map<std::string, double> samples;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# TYPE " + family + " ", 0) == 0) continue;
    ASSERT_EQ(line.rfind(family, 0), 0u) << "a sample outside its family: " << line;
    const auto space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  EXPECT_EQ(samples["exsync_items_synced_total{change=\"created\"}"], 3 * (25 + 5)) << r.body;
  EXPECT_EQ(samples["exsync_mailboxes{state=\"backing_off\"}"], 0);
  EXPECT_GE(samples["exsync_mailbox_syncs_total{result=\"success\"}"], 3);
  EXPECT_GE(samples["exsync_requests_total{outcome=\"success\"}"], 6);
  EXPECT_GE(samples["exsync_token_requests_total"], 1);
  EXPECT_GT(samples["exsync_mailbox_last_success_timestamp_seconds{mailbox=\"agent1@contoso.onmicrosoft.com\"}"],
            1.7e9);
  EXPECT_TRUE(samples.contains("exsync_outbox_writes{state=\"pending\"}"));
  EXPECT_TRUE(samples.contains("exsync_request_limit"));
}

TEST_F(ApiTest, ContactsArePagedAndMatchTheStore) {
  const auto stored = test::stored_items(sim_.config(), agent1);
  std::map<std::string, std::string> seen;
  std::string after;
  int pages = 0;
  for (;;) {
    auto r = call("GET", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts?limit=10" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(r.status, 200) << r.body;
    auto v = r.json();
    for (const auto& item : v.at("items").as_array()) seen[std::string(item.at("ews_id").as_string())] = json::serialize(item);
    ++pages;
    if (v.at("next").is_null()) break;
    after = std::string(v.at("next").as_string());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, stored);

  const auto one = json::parse(stored.begin()->second);
  const std::string id(one.at("id").as_string());
  auto r = call("GET", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts/" + id);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, stored.begin()->second);
}

TEST_F(ApiTest, BadRequestsGetClearErrors) {
  EXPECT_EQ(call("GET", "/v1/mailboxes/stranger@contoso.onmicrosoft.com/contacts").json().at("error"), "unknown_mailbox");
  auto missing = call("GET", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts/0000");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json().at("error"), "unknown_item");
  auto limit = call("GET", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts?limit=0");
  EXPECT_EQ(limit.status, 400);
  EXPECT_EQ(limit.json().at("error"), "malformed");
  EXPECT_EQ(call("GET", "/v2/anything").status, 404);
  EXPECT_EQ(call("PUT", "/v1/mailboxes").status, 405);
  // A route with other methods says which, in Allow as RFC 9110 asks.
  auto wrong = send_with("PUT", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts", "{}", {});
  EXPECT_EQ(wrong.status, 405);
  EXPECT_NE(wrong.headers.find("Allow: GET, POST"), std::string::npos) << wrong.headers;
  EXPECT_EQ(call("GET", "/v1/mailboxes//contacts").json().at("error"), "unknown_mailbox");
  test::write_file(logs_ / "big.json", std::string(9u << 20, 'x'));
  EXPECT_EQ(call("POST", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts", "use-default", (logs_ / "big.json").string()).status, 413);
}

TEST_F(ApiTest, TheChangesFeedFollowsExchangeIncludingDeletions) {
  const auto path = "/v1/mailboxes/" + test::url_segment(agent1) + "/changes";
  auto first = call("GET", path);
  ASSERT_EQ(first.status, 200) << first.body;
  auto v = first.json();
  int created_contacts = 0, created_events = 0;
  for (const auto& c : v.at("changes").as_array()) {
    EXPECT_EQ(c.at("kind"), "created");
    EXPECT_TRUE(c.at("item").is_object());
    (c.at("folder") == "contacts" ? created_contacts : created_events) += 1;
  }
  EXPECT_EQ(created_contacts, 25);
  EXPECT_EQ(created_events, 5);
  const auto cursor = v.at("cursor").as_int64();

  auto contacts = sim_.contacts(agent1);
  const auto base = "/sim/mailboxes/" + test::url_segment(agent1) + "/contacts/";
  const std::string updated = contacts.begin()->first, deleted = contacts.rbegin()->first;
  sim_.control("PUT", base + test::url_segment(updated), R"({"display_name":"Moved to Denver"})");
  sim_.control("DELETE", base + test::url_segment(deleted));
  const int before = passes();
  wait_for_log("event=sync.round.done", before + 2);  // a pass that started after the changes

  auto next = call("GET", path + "?cursor=" + std::to_string(cursor));
  ASSERT_EQ(next.status, 200);
  const auto changes = next.json().at("changes").as_array();
  ASSERT_EQ(changes.size(), 2u) << next.body;
  EXPECT_EQ(changes[0].at("kind"), "updated");
  EXPECT_EQ(changes[0].at("ews_id").as_string(), updated);
  EXPECT_EQ(changes[0].at("item").at("display_name"), "Moved to Denver");
  EXPECT_EQ(changes[1].at("kind"), "deleted");
  EXPECT_EQ(changes[1].at("ews_id").as_string(), deleted);
  EXPECT_FALSE(changes[1].as_object().contains("item"));
  EXPECT_GT(next.json().at("cursor").as_int64(), cursor);
  // Nothing new after the returned cursor.
  auto after = call("GET", path + "?cursor=" + std::to_string(next.json().at("cursor").as_int64()));
  EXPECT_TRUE(after.json().at("changes").as_array().empty());
}


// A contact created, changed and deleted through the API arrives in the mailbox promptly
// (interval_seconds is 1 here, but a write wakes its mailbox's pass at once).
TEST_F(ApiTest, ContactsWrittenThroughTheApiArriveInExchange) {
  const auto contacts = "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts";
  auto created = send("POST", contacts, R"({"display_name":"Ines Ortega","given_name":"Ines","surname":"Ortega",
      "emails":[{"key":"EmailAddress1","address":"ines@example.com"}],"phones":[{"key":"MobilePhone","number":"+34 600 000 000"}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(created.json().at("id").as_string());
  EXPECT_FALSE(created.json().as_object().contains("ews_id")) << "not in Exchange yet";

  std::string ews_id;
  ASSERT_TRUE(eventually([&](const auto& all) {
    for (const auto& [eid, line] : all)
      if (line.find("Ines Ortega") != std::string::npos) ews_id = eid;
    return !ews_id.empty();
  }));
  // The store learns the Exchange id, and the CRM's own create is not echoed in the feed.
  ASSERT_TRUE(eventually([&](const auto&) {
    return call("GET", contacts + "/" + id).json().as_object().contains("ews_id");
  }));
  EXPECT_EQ(call("GET", contacts + "/" + id).json().at("ews_id").as_string(), ews_id);
  auto feed = call("GET", "/v1/mailboxes/" + test::url_segment(agent1) + "/changes").json();
  for (const auto& c : feed.at("changes").as_array()) EXPECT_NE(c.at("ews_id").as_string(), ews_id);

  auto patched = send("PATCH", contacts + "/" + id, R"({"job_title":"Buyer","phones":null})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json().at("job_title"), "Buyer");
  ASSERT_TRUE(eventually([&](const auto& all) {
    auto it = all.find(ews_id);
    return it != all.end() && it->second.find("\"job_title\":\"Buyer\"") != std::string::npos &&
           it->second.find("phones") == std::string::npos;
  }));

  // A third-party EWS client sees what the daemon wrote.
  auto probe = test::run_process({"/usr/bin/python3", "-c", "import exchangelib"});
  if (probe.exit_code == 0) {
    auto seen = test::run_process({"/usr/bin/python3", (test::source_dir() / "tests" / "interop" / "exchangelib_sync.py").string(),
                                   sim_.dir().string(), agent1});
    ASSERT_EQ(seen.exit_code, 0) << seen.err;
    EXPECT_NE(seen.out.find("\"display_name\": \"Ines Ortega\""), std::string::npos) << seen.out;
  }

  ASSERT_EQ(call("DELETE", contacts + "/" + id).status, 204);
  EXPECT_EQ(call("GET", contacts + "/" + id).status, 404);
  ASSERT_TRUE(eventually([&](const auto& all) { return !all.contains(ews_id); }));
  ASSERT_TRUE(eventually([&](const auto&) {
    auto v = call("GET", "/v1/mailboxes/" + test::url_segment(agent1) + "/outbox").json();
    return v.at("outbox").as_array().empty();
  }));
}

TEST_F(ApiTest, InvalidWritesAreRefusedAndStoreNothing) {
  const auto contacts = "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts";
  const auto before = test::stored_items(sim_.config(), agent1).size();
  auto not_json = send("POST", contacts, "{\"display_name\": ");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.json().at("error"), "malformed");
  auto bad_key = send("POST", contacts, R"({"display_name":"X","phones":[{"key":"Satellite","number":"1"}]})");
  EXPECT_EQ(bad_key.status, 422);
  EXPECT_NE(bad_key.json().at("message").as_string().find("phones[0].key"), std::string::npos);
  auto control = send("POST", contacts, "{\"display_name\":\"a\\u0001b\"}");
  EXPECT_EQ(control.status, 422);
  auto empty = send("POST", contacts, R"({"notes":"no name"})");
  EXPECT_EQ(empty.status, 422);
  // Bytes that are not UTF-8, raw or escaped as a lone surrogate, never reach the store.
  auto latin1 = send("POST", contacts, "{\"display_name\":\"Caf\xe9\"}");
  EXPECT_EQ(latin1.status, 400) << latin1.body;
  auto surrogate = send("POST", contacts, R"({"display_name":"x\ud800y"})");
  EXPECT_NE(surrogate.status / 100, 2) << surrogate.body;
  // Markup and quotes are data: stored and written as they are, never interpreted.
  auto markup = send("POST", contacts, R"({"display_name":"<t:Evil/> & ]]> \"q\" 'a'"})");
  EXPECT_EQ(markup.status, 201) << markup.body;
  auto wrong_type = send("PATCH", contacts + "/nope", R"({"display_name":"x"})");
  EXPECT_EQ(wrong_type.status, 404);
  EXPECT_EQ(test::stored_items(sim_.config(), agent1).size(), before + 1) << "only the markup contact";
  EXPECT_TRUE(eventually([](const std::map<std::string, std::string>& c) {
    for (const auto& [id, line] : c)
      if (line.find(R"(<t:Evil/> & ]]> \"q\" 'a')") != std::string::npos) return true;
    return false;
  })) << "the markup contact arrives in Exchange verbatim";
}

// Optimistic concurrency as CRM developers know it: every item carries an ETag; a PATCH or
// DELETE with If-Match is refused with 412 and the item as it is now once it has changed.
TEST_F(ApiTest, IfMatchRefusesAWriteOverAChangeTheCrmHasNotSeen) {
  const auto contacts = "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts";
  auto created = send("POST", contacts, R"({"display_name":"Nora Lind"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(created.json().at("id").as_string());
  const std::string first(created.json().at("etag").as_string());
  auto read = send_with("GET", contacts + "/" + id, "", {});
  ASSERT_EQ(read.status, 200);
  EXPECT_NE(read.headers.find("ETag: " + first), std::string::npos) << read.headers;

  // Someone else changes it (here, another PATCH); the first writer's tag is now stale.
  auto other = send("PATCH", contacts + "/" + id, R"({"job_title":"Seller"})");
  ASSERT_EQ(other.status, 200) << other.body;
  const std::string second(other.json().at("etag").as_string());
  EXPECT_NE(second, first);

  auto stale = send_with("PATCH", contacts + "/" + id, R"({"job_title":"Buyer"})", {"If-Match: " + first});
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(stale.json().at("error"), "precondition_failed");
  EXPECT_EQ(stale.json().at("current").at("job_title"), "Seller");
  EXPECT_EQ(stale.json().at("current").at("etag").as_string(), second);
  EXPECT_EQ(send_with("DELETE", contacts + "/" + id, "", {"If-Match: " + first}).status, 412);
  EXPECT_EQ(call("GET", contacts + "/" + id).json().at("job_title"), "Seller") << "nothing was written";

  auto fresh = send_with("PATCH", contacts + "/" + id, R"({"job_title":"Buyer"})", {"If-Match: \"0\", " + second});
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(fresh.json().at("job_title"), "Buyer");
  EXPECT_EQ(send_with("DELETE", contacts + "/" + id, "", {"If-Match: *"}).status, 204);
  EXPECT_EQ(call("GET", contacts + "/" + id).status, 404);
}

// A member the API does not know is refused with 422 naming it, instead of being dropped: a
// message with "body" instead of "text" would otherwise go out empty.
TEST_F(ApiTest, UnknownFieldsAreRefusedByName) {
  const auto mailbox = "/v1/mailboxes/" + test::url_segment(agent1);
  const auto before = test::stored_items(sim_.config(), agent1).size();
  auto message = send("POST", mailbox + "/messages", R"({"to":["buyer@example.com"],"subject":"Offer","body":{"text":"Hi"}})");
  EXPECT_EQ(message.status, 422) << message.body;
  EXPECT_EQ(message.json().at("error"), "unknown_field");
  EXPECT_NE(message.json().at("message").as_string().find("\"body\""), std::string::npos) << message.body;
  auto nested = send("POST", mailbox + "/contacts", R"({"display_name":"X","emails":[{"key":"EmailAddress1","adress":"x@example.com"}]})");
  EXPECT_EQ(nested.status, 422) << nested.body;
  EXPECT_NE(nested.json().at("message").as_string().find("emails[0].adress"), std::string::npos) << nested.body;
  auto event = send("POST", mailbox + "/events",
                    R"({"subject":"Viewing","start":"2026-12-10T10:00:00Z","end":"2026-12-10T11:00:00Z","colour":"red"})");
  EXPECT_EQ(event.status, 422) << event.body;
  EXPECT_NE(event.json().at("message").as_string().find("colour"), std::string::npos) << event.body;
  EXPECT_EQ(test::stored_items(sim_.config(), agent1).size(), before);

  // What the API itself returned may be sent back whole, identities and ETag included.
  auto created = send("POST", mailbox + "/contacts", R"({"display_name":"Round Trip"})");
  ASSERT_EQ(created.status, 201);
  const std::string id(created.json().at("id").as_string());
  auto typo = send("PATCH", mailbox + "/contacts/" + id, R"({"job_tilte":"Buyer"})");
  EXPECT_EQ(typo.status, 422) << typo.body;
  auto back = send("PATCH", mailbox + "/contacts/" + id, created.body);
  EXPECT_EQ(back.status, 200) << back.body;
}

// Mail sent through the API goes out from the agent's mailbox and lands in its Sent Items once.
TEST_F(ApiTest, AMessageSentThroughTheApiIsInSentItemsOnce) {
  const auto messages = "/v1/mailboxes/" + test::url_segment(agent1) + "/messages";
  auto bad = send("POST", messages, R"({"to":["not-an-address"],"subject":"x","text":"y"})");
  EXPECT_EQ(bad.status, 422);
  EXPECT_NE(bad.json().at("message").as_string().find("to[0]"), std::string::npos);

  auto queued = send("POST", messages, R"({"to":[{"name":"Ann","address":"ann@example.com"}],"subject":"Showing on Saturday",
      "text":"See you at 10.","attachments":[{"name":"flyer.txt","content_type":"text/plain","content_base64":"RmxhdCBmZWUu"}]})");
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string id(queued.json().at("id").as_string());
  std::string state;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    state = std::string(call("GET", messages + "/" + id).json().at("state").as_string());
    if (state == "sent") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(state, "sent");
  auto sent = sim_.control("GET", "/sim/mailboxes/" + test::url_segment(agent1) + "/sent").body;
  EXPECT_EQ(std::count(sent.begin(), sent.end(), '\n'), 1) << sent;
  EXPECT_NE(sent.find("Showing on Saturday"), std::string::npos);
  EXPECT_EQ(call("GET", messages + "/nope").status, 404);

  auto probe = test::run_process({"/usr/bin/python3", "-c", "import exchangelib"});
  if (probe.exit_code == 0) {
    auto seen = test::run_process({"/usr/bin/python3", (test::source_dir() / "tests" / "interop" / "exchangelib_sync.py").string(),
                                   sim_.dir().string(), agent1, "sent"});
    ASSERT_EQ(seen.exit_code, 0) << seen.err;
    // exchangelib's default query (every field of the message) and a query of its subject alone
    // both find the message the daemon sent, from the agent, with its body and attachment.
    EXPECT_NE(seen.out.find(R"({"sent_subject": "Showing on Saturday", "body": "See you at 10.", "to": ["ann@example.com"], )"
                            R"("sender": "agent1@contoso.onmicrosoft.com", "attachments": ["flyer.txt"], "is_draft": false})"),
              std::string::npos) << seen.out;
    EXPECT_NE(seen.out.find(R"({"only_subject": "Showing on Saturday"})"), std::string::npos) << seen.out;
  }
}

TEST_F(ApiTest, TheCalendarBetweenTwoDatesExpandsSeriesInTheirOwnZone) {
  const auto events = "/v1/mailboxes/" + test::url_segment(agent1) + "/events";
  auto listed = call("GET", events);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.json().at("items").as_array().size(), 5u);
  auto r = call("GET", events + "?start=2026-03-01T00:00:00Z&end=2026-04-15T00:00:00Z");
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> review;
  const auto body = r.json();
  for (const auto& o : body.at("occurrences").as_array())
    if (o.at("subject") == "Weekly pipeline review") review.emplace_back(o.at("start").as_string());
  EXPECT_EQ(review, (std::vector<std::string>{"2026-03-03T09:00:00-08:00", "2026-03-10T09:00:00-07:00",
                                              "2026-03-17T11:00:00-07:00", "2026-03-24T09:00:00-07:00",
                                              "2026-04-07T09:00:00-07:00"}));
  EXPECT_EQ(call("GET", events + "?start=2026-03-01T00:00:00Z").status, 400);
  EXPECT_EQ(call("GET", events + "?start=2026-03-01T00:00:00Z&end=2028-03-01T00:00:00Z").status, 400);
  auto incomplete = send("POST", events, R"({"subject":"x"})");
  EXPECT_EQ(incomplete.status, 422);
  EXPECT_NE(incomplete.json().at("message").as_string().find("time_zone"), std::string::npos);
}

TEST_F(ApiTest, EventsWrittenThroughTheApiArriveInExchange) {
  const auto events = "/v1/mailboxes/" + test::url_segment(agent1) + "/events";
  // A series whose pattern lacks what it needs is refused before anything is stored.
  auto series = send("POST", events, R"({"subject":"Every month","start":"2026-04-01T09:00:00-07:00","end":"2026-04-01T09:30:00-07:00",
      "time_zone":"America/Los_Angeles","recurrence":{"pattern":"absolute_monthly","range":"no_end","start_date":"2026-04-01"}})");
  EXPECT_EQ(series.status, 422) << series.body;
  EXPECT_NE(series.body.find("day_of_month"), std::string::npos) << series.body;
  auto overlapping = send("POST", events, R"({"subject":"Every day, all day and more","start":"2026-04-01T09:00:00-07:00","end":"2026-04-02T10:00:00-07:00",
      "time_zone":"America/Los_Angeles","recurrence":{"pattern":"daily","range":"no_end","start_date":"2026-04-01"}})");
  EXPECT_EQ(overlapping.status, 422) << overlapping.body;
  auto bad_all_day = send("POST", events, R"({"subject":"Closing","all_day":true,"start":"2026-04-02T09:00:00-04:00",
      "end":"2026-04-03T09:00:00-04:00","time_zone":"America/New_York"})");
  EXPECT_EQ(bad_all_day.status, 422);

  auto created = send("POST", events + "?send_invitations=true", R"({"subject":"Final walkthrough","location":"88 Pine Rd",
      "start":"2026-04-02T16:00:00-05:00","end":"2026-04-02T16:45:00-05:00","time_zone":"America/Chicago",
      "attendees":[{"name":"Ann Buyer","address":"ann@example.com","type":"required"}]})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string id(created.json().at("id").as_string());
  std::string found;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (found.empty() && std::chrono::steady_clock::now() < deadline) {
    auto listing = sim_.control("GET", "/sim/mailboxes/" + test::url_segment(agent1) + "/events").body;
    std::istringstream in(listing);
    std::string line;
    while (std::getline(in, line))
      if (line.find("Final walkthrough") != std::string::npos) found = line;
    if (found.empty()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(found.empty());
  EXPECT_NE(found.find(R"("start":"2026-04-02T16:00:00-05:00")"), std::string::npos) << found;
  EXPECT_EQ(boost::json::parse(sim_.control("GET", "/sim/stats").body).at("invitations_sent").as_int64(), 1);
  // A third-party EWS client sees the event the daemon wrote.
  if (test::run_process({"/usr/bin/python3", "-c", "import exchangelib"}).exit_code == 0) {
    auto seen = test::run_process({"/usr/bin/python3", (test::source_dir() / "tests" / "interop" / "exchangelib_sync.py").string(),
                                   sim_.dir().string(), agent1, "events"});
    ASSERT_EQ(seen.exit_code, 0) << seen.err;
    EXPECT_NE(seen.out.find("Final walkthrough"), std::string::npos) << seen.out;
  }

  // Changing the series of a synced event is refused; its subject may change.
  auto listed = call("GET", events + "?limit=100").json();
  for (const auto& item : listed.at("items").as_array()) {
    if (!item.as_object().contains("recurrence")) continue;
    const std::string series_id(item.at("id").as_string());
    EXPECT_EQ(send("PATCH", events + "/" + series_id, R"({"recurrence":null})").status, 422);
    EXPECT_EQ(send("PATCH", events + "/" + series_id, R"({"subject":"Pipeline review - renamed"})").status, 200);
  }
  EXPECT_EQ(call("DELETE", events + "/" + id).status, 204);
}

// With the next full pass minutes away,
// a write through the API is still pushed at once.
class ApiPromptPassTest : public ApiTest {
 protected:
  int interval_seconds() const override { return 600; }
};

TEST_F(ApiPromptPassTest, AWriteWakesItsMailboxsPassAtOnce) {
  auto created = send("POST", "/v1/mailboxes/" + test::url_segment(agent1) + "/contacts", R"({"display_name":"Right Away"})");
  ASSERT_EQ(created.status, 201);
  ASSERT_TRUE(eventually([](const auto& all) {
    for (const auto& [id, line] : all)
      if (line.find("Right Away") != std::string::npos) return true;
    return false;
  })) << "eventually() gives up after 10 s; the next full pass is 600 s away";
}


// The API on a Unix socket instead of TCP ([api] listen = "unix:PATH").
class ApiUnixSocketTest : public ApiTest {
 protected:
  void SetUp() override {
    socket_ = sim_.dir() / "api.sock";
    auto text = test::read_file(sim_.config());
    const auto pos = text.find("listen = \"");
    text.replace(pos, text.find('\n', pos) - pos, "listen = \"unix:api.sock\"");
    test::write_file(sim_.config(), text);
    ApiTest::SetUp();
  }
  std::filesystem::path socket_;
};

TEST_F(ApiUnixSocketTest, ServesTheSameApiOnTheSocket) {
  auto r = test::run_process({"/usr/bin/curl", "-s", "--unix-socket", socket_.string(), "-H", "Authorization: Bearer " + token_,
                              "http://localhost/v1/mailboxes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(boost::json::parse(r.out).at("mailboxes").as_array().size(), 3u) << r.out;
  auto denied = test::run_process({"/usr/bin/curl", "-s", "--unix-socket", socket_.string(), "http://localhost/v1/health"});
  EXPECT_NE(denied.out.find("unauthorized"), std::string::npos);
}


// SIGKILL while messages are being sent, again and again: every message ends in Sent Items
// exactly once, whether the kill came before the send, during it, or between the send and the
// store's record of it.
class ApiCrashTest : public ApiTest {
 protected:
  int interval_seconds() const override { return 600; }
  void restart() {
    daemon_->signal(SIGKILL);
    daemon_->wait(10s);
    daemon_ = std::make_unique<test::Process>(
        std::vector<std::string>{test::exsyncd_path().string(), "run", "--config", sim_.config().string()}, logs_.path(),
        "exsyncd-" + std::to_string(++restarts_));
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (daemon_->stderr_text().find("event=api.listening") == std::string::npos) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << daemon_->stderr_text();
      std::this_thread::sleep_for(10ms);
    }
  }
  int restarts_ = 0;
};

TEST_F(ApiCrashTest, MessagesAreSentExactlyOnceAcrossKills) {
  const auto messages = "/v1/mailboxes/" + test::url_segment(agent1) + "/messages";
  constexpr int kMessages = 24;
  std::vector<std::string> ids;
  for (int i = 0; i < kMessages; ++i) {
    auto r = send("POST", messages, R"({"to":["ann@example.com"],"subject":"Listing update )" + std::to_string(i) +
                                        R"(","text":"New photos are up."})");
    ASSERT_EQ(r.status, 202) << r.body;
    ids.emplace_back(r.json().at("id").as_string());
    if (i % 4 == 3) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * i));
      restart();
    }
  }
  // Let the last daemon finish; every message reaches "sent".
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (const auto& id : ids) {
    std::string state;
    while (std::chrono::steady_clock::now() < deadline) {
      state = std::string(call("GET", messages + "/" + id).json().at("state").as_string());
      if (state == "sent") break;
      std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(state, "sent") << id;
  }
  const auto sent = sim_.control("GET", "/sim/mailboxes/" + test::url_segment(agent1) + "/sent").body;
  for (int i = 0; i < kMessages; ++i) {
    const std::string subject = "\"subject\":\"Listing update " + std::to_string(i) + "\"";
    std::size_t count = 0;
    for (auto pos = sent.find(subject); pos != std::string::npos; pos = sent.find(subject, pos + 1)) ++count;
    EXPECT_EQ(count, 1u) << "message " << i;
  }
}

}  // namespace
}  // namespace exsync
