#include "exsync/model/contact_json.hpp"

#include <gtest/gtest.h>

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

TEST(ContactJsonTest, BadInputGetsAClearError) {
  EXPECT_EQ(contact_from_json("{").error().substr(0, 17), "is not valid JSON");
  EXPECT_EQ(contact_from_json("[]").error(), "must be a JSON object");
  EXPECT_EQ(contact_from_json(R"({"display_name": 3})").error(), "display_name must be a string");
  EXPECT_EQ(contact_from_json(R"({"birthday": "12/04/1985"})").error(), "birthday must be a date YYYY-MM-DD");
  EXPECT_EQ(contact_from_json(R"({"emails": "x"})").error(), "emails must be an array");
}

}  // namespace
}  // namespace exsync::model
