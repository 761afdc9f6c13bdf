// Graph's JSON as exsync reads and writes it, on real captured answers (../shared/graph-captures).
#include "exsync/graph/graph_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "exsync/model/tag.hpp"
#include "test_support.hpp"

namespace exsync::graph {
namespace {

namespace json = boost::json;
using model::RemoteErrorKind;

std::string capture(const std::string& path) {
  auto shared = test::shared_dir();
  if (!shared) throw std::runtime_error("../shared is missing: the Graph captures are reference data the tests need");
  return test::read_file(*shared / "graph-captures" / path);
}

TEST(GraphJsonTest, ACapturedExchangeOnlineContactReadsFieldByField) {
  auto item = contact_from_graph(json::parse(capture("items/contact_get_captured_corso.json")).as_object());
  ASSERT_TRUE(item) << item.error();
  EXPECT_EQ(item->ref.change_key, "EQAAABYAAABBFDg0JJk7TY1fmsJrh7tNAAFGKnME");
  EXPECT_EQ(item->ref.id.substr(0, 8), "AAMkAGJi");
  const auto& c = std::get<model::Contact>(item->payload);
  EXPECT_EQ(c.display_name, "Wo. Random Peterson Person Jr.");
  EXPECT_EQ(c.given_name, "Random");
  EXPECT_EQ(c.middle_name, "Peterson");
  EXPECT_EQ(c.surname, "Person");
  EXPECT_EQ(c.nickname, "Mikey");
  EXPECT_EQ(c.company, "Company Name");
  EXPECT_EQ(c.job_title, "Principal Dough Beater");
  EXPECT_EQ(c.notes, "Note on dough stuff");
  ASSERT_EQ(c.emails.size(), 2u);
  EXPECT_EQ(c.emails[0].key, "EmailAddress1");
  EXPECT_EQ(c.emails[0].address, "mockemail@provider.com");
  EXPECT_EQ(c.emails[1].key, "EmailAddress2");
  EXPECT_EQ(c.emails[1].address, "anotheremail@place.com");
  // homePhones[0] and mobilePhone; businessPhones is empty.
  ASSERT_EQ(c.phones.size(), 2u);
  EXPECT_EQ(c.phones[0].key, "HomePhone");
  EXPECT_EQ(c.phones[0].number, "123091230921");
  EXPECT_EQ(c.phones[1].key, "MobilePhone");
  EXPECT_EQ(c.phones[1].number, "00000111111");
  ASSERT_EQ(c.addresses.size(), 3u);
  EXPECT_EQ(c.addresses[0].key, "Business");
  EXPECT_EQ(c.addresses[0].country, "Business Country");
  EXPECT_EQ(c.addresses[1].key, "Home");
  EXPECT_EQ(c.addresses[1].postal_code, "090909");
  EXPECT_EQ(c.addresses[2].key, "Other");
  EXPECT_EQ(c.addresses[2].street, "Another street");
  // 2012-09-11T11:59:00Z: the date the user entered.
  ASSERT_TRUE(c.birthday);
  EXPECT_EQ(*c.birthday, std::chrono::year_month_day(std::chrono::year(2012), std::chrono::month(9), std::chrono::day(11)));
  ASSERT_TRUE(c.last_modified);
  EXPECT_EQ(format_rfc3339_utc(*c.last_modified), "2023-12-18T10:37:50Z");
}

TEST(GraphJsonTest, AContactWithoutIdOrChangeKeyIsRefused) {
  EXPECT_FALSE(contact_from_graph(json::object{{"displayName", "No id"}, {"changeKey", "x"}}));
  EXPECT_FALSE(contact_from_graph(json::object{{"id", "AAk"}, {"displayName", "No change key"}}));
  // The etag carries the change key when changeKey is not selected.
  auto from_etag = contact_from_graph(json::object{{"id", "AAk"}, {"@odata.etag", "W/\"EQAAAB\""}});
  ASSERT_TRUE(from_etag);
  EXPECT_EQ(from_etag->ref.change_key, "EQAAAB");
  EXPECT_FALSE(contact_from_graph(json::object{{"id", "AAk"}, {"changeKey", "x"}, {"birthday", "soon"}}));
}

TEST(GraphJsonTest, ACreateCarriesTheFieldsAndTheTagAndAPatchOnlyWhatChanged) {
  model::Contact c;
  c.display_name = "Ann Lee";
  c.company = "Lee Realty";
  c.emails = {{"EmailAddress2", "ann@lee.example", "Ann"}};
  c.phones = {{"MobilePhone", "+1 555 0100"}, {"BusinessPhone2", "+1 555 0101"}};
  c.birthday = std::chrono::year_month_day(std::chrono::year(1980), std::chrono::month(2), std::chrono::day(29));
  auto body = contact_create_body(c, "local-123");
  EXPECT_EQ(body.at("displayName"), "Ann Lee");
  EXPECT_FALSE(body.contains("jobTitle")) << "empty values are left out of a create";
  // EmailAddress2 alone still goes second; BusinessPhone2 alone second.
  EXPECT_EQ(body.at("emailAddresses").as_array().size(), 2u);
  EXPECT_EQ(body.at("emailAddresses").at(1).at("address"), "ann@lee.example");
  EXPECT_EQ(body.at("businessPhones"), (json::array{"", "+1 555 0101"}));
  EXPECT_EQ(body.at("birthday"), "1980-02-29T11:59:00Z");
  const auto& tag = body.at("singleValueExtendedProperties").at(0);
  EXPECT_EQ(tag.at("id").as_string(), model::graph_tag_property_id());
  EXPECT_EQ(tag.at("value"), "local-123");

  auto after = c;
  after.job_title = "Broker";
  after.phones = {{"MobilePhone", "+1 555 0100"}};
  auto patch = contact_patch_body(c, after);
  EXPECT_EQ(patch.size(), 2u) << json::serialize(patch);
  EXPECT_EQ(patch.at("jobTitle"), "Broker");
  EXPECT_EQ(patch.at("businessPhones"), json::array{});
  EXPECT_TRUE(contact_patch_body(c, c).empty());
}

TEST(GraphJsonTest, CapturedErrorsMapToTheEnginesKinds) {
  // The expired delta token: 410 SyncStateNotFound (and its spellings), never a 401.
  auto expired = error_for_graph_response(410, capture("errors/delta_410_syncstatenotfound_calendarview_captured.json"), "");
  EXPECT_EQ(expired.kind, RemoteErrorKind::invalid_sync_state);
  EXPECT_EQ(expired.code, "SyncStateNotFound");
  EXPECT_EQ(error_for_graph_response(400, R"({"error":{"code":"resyncRequired","message":"x"}})", "").kind,
            RemoteErrorKind::invalid_sync_state);
  EXPECT_EQ(error_for_graph_response(401, R"({"error":{"code":"SyncStateNotFound","message":"x"}})", "").kind,
            RemoteErrorKind::unauthorized);
  auto busy = error_for_graph_response(429, capture("errors/429_applicationthrottled_mailboxconcurrency_captured.json"), "1");
  EXPECT_EQ(busy.kind, RemoteErrorKind::throttled);
  EXPECT_EQ(busy.retry_after, std::chrono::seconds(1));
  EXPECT_FALSE(busy.whole_endpoint) << "MailboxConcurrency is the mailbox's";
  EXPECT_EQ(error_for_graph_response(429, "", "").retry_after, std::chrono::seconds(1)) << "a 429 without Retry-After";
  // The 412 capture is the inner error object; Graph wraps it in "error".
  const auto conflict_body = "{\"error\":" + capture("errors/412_errorirresolvableconflict_patch_captured.json") + "}";
  EXPECT_EQ(error_for_graph_response(412, conflict_body, "").kind, RemoteErrorKind::conflict);
  auto denied = error_for_graph_response(403, capture("errors/403_erroraccessdenied_applicationaccesspolicy_msdocs.json"), "");
  EXPECT_EQ(denied.kind, RemoteErrorKind::access_denied);
  EXPECT_NE(denied.message.find("Access to OData is disabled"), std::string::npos) << denied.message;
}

}  // namespace
}  // namespace exsync::graph
