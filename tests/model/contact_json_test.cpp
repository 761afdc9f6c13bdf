#include "exsync/model/contact_json.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <random>

namespace exsync::model {
namespace {

Contact full_contact() {
  Contact c;
  c.display_name = "Jane <&]]>\" Smith";
  c.given_name = "Jane";
  c.middle_name = "Q.";
  c.surname = "Smith";
  c.nickname = "JJ";
  c.file_as = "Smith, Jane";
  c.company = "Acme & Sons";
  c.job_title = "Buyer";
  c.emails = {{"EmailAddress1", "jane@example.com", "Jane Smith"}, {"EmailAddress2", "js@work.example", ""}};
  c.phones = {{"MobilePhone", "+1 555 0100"}};
  c.addresses = {{"Home", "1 Main St", "Austin", "TX", "78701", "United States"}};
  c.birthday = std::chrono::year_month_day{std::chrono::year(1985), std::chrono::April, std::chrono::day(12)};
  c.notes = "line 1\nline 2";
  c.categories = {"Buyer", "Lead"};
  c.last_modified = *parse_xs_datetime("2020-09-10T14:15:19Z");
  return c;
}

TEST(ContactJsonTest, RoundTripsEveryField) {
  const auto c = full_contact();
  auto back = contact_from_json(contact_to_json(c));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, c);
}

TEST(ContactJsonTest, IdentityComesFirstAndEmptyFieldsAreOmitted) {
  Contact c;
  c.display_name = "Only Name";
  const auto json = contact_to_json(c, ItemIdentity{"L1", {"AAMk", "CK"}});
  EXPECT_EQ(json, R"({"id":"L1","remote_id":"AAMk","ews_id":"AAMk","change_key":"CK","display_name":"Only Name"})")
      << "remote_id is the id in the mailbox whatever the protocol; ews_id its older name";
}

// The contact's JSON is written directly, not through json::object: for random contacts with
// every control character, quotes, backslashes and multi-byte UTF-8 in their fields, it is byte
// for byte what json::serialize() writes for it (so that stored JSON and ETags stay as they
// were), and reads back to the same contact. Seed-reproducible.
TEST(ContactJsonTest, DirectJsonIsWhatBoostJsonWritesForRandomContacts) {
  std::mt19937 rng(20261203);
  const std::vector<std::string> pieces = {"a", "Z", " ", "\"", "\\", "/", "\x7f", "é", "日本", "😀", "<&>", "\u2028"};
  auto text = [&] {
    std::string s;
    const int n = static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      if (rng() % 4 == 0) s += static_cast<char>(rng() % 0x20);  // a control character
      else s += pieces[rng() % pieces.size()];
    }
    return s;
  };
  for (int round = 0; round < 500; ++round) {
    Contact c;
    c.display_name = text();
    c.given_name = text();
    c.surname = text();
    c.company = text();
    c.notes = text();
    for (int i = static_cast<int>(rng() % 3); i > 0; --i) c.emails.push_back({"EmailAddress" + std::to_string(i), text(), text()});
    for (int i = static_cast<int>(rng() % 3); i > 0; --i) c.phones.push_back({text(), text()});
    for (int i = static_cast<int>(rng() % 2); i > 0; --i) c.addresses.push_back({text(), text(), text(), text(), text(), text()});
    for (int i = static_cast<int>(rng() % 3); i > 0; --i) c.categories.push_back(text());
    if (rng() % 2) c.birthday = std::chrono::year_month_day{std::chrono::year(1990), std::chrono::May, std::chrono::day(3)};
    const auto identity = rng() % 2 ? std::optional<ItemIdentity>(ItemIdentity{text(), {text(), text()}, text()}) : std::nullopt;
    const auto written = contact_to_json(c, identity);
    boost::json::error_code ec;
    const auto parsed = boost::json::parse(written, ec);
    ASSERT_FALSE(ec) << written;
    EXPECT_EQ(boost::json::serialize(parsed), written) << "round " << round;
    auto back = contact_from_json(written);
    ASSERT_TRUE(back) << back.error();
    sort_by_key(c);  // as reading does
    EXPECT_EQ(contact_to_json(*back), contact_to_json(c)) << "round " << round;
  }
}

TEST(ContactJsonTest, BadInputGetsAClearError) {
  EXPECT_EQ(contact_from_json("{").error().substr(0, 17), "is not valid JSON");
  EXPECT_EQ(contact_from_json("[]").error(), "must be a JSON object");
  EXPECT_EQ(contact_from_json(R"({"display_name": 3})").error(), "display_name must be a string");
  EXPECT_EQ(contact_from_json(R"({"birthday": "12/04/1985"})").error(), "birthday must be a date YYYY-MM-DD");
  EXPECT_EQ(contact_from_json(R"({"emails": "x"})").error(), "emails must be an array");
}

}  // namespace
}  // namespace exsync::model
