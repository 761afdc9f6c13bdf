#include "exsync/ews/requests.hpp"
#include "exsync/ews/write_requests.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/notifications.hpp"
#include "exsync/ews/xml.hpp"
#include "schema_validator.hpp"
#include "test_support.hpp"

namespace exsync::ews {
namespace {

// Every kind of request the daemon sends validates against Microsoft's EWS schema.
class RequestSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shared = test::shared_dir();
    if (!shared || !std::filesystem::exists(*shared / "ews-schema" / "soap-envelope.xsd"))
      GTEST_FAIL() << "../shared/ews-schema is missing: Microsoft's schema must sit beside the clone";
    std::string problem;
    validator_ = sim::SchemaValidator::load(*shared / "ews-schema", problem);
    ASSERT_TRUE(validator_) << problem;
  }
  std::unique_ptr<sim::SchemaValidator> validator_;
};

TEST_F(RequestSchemaTest, SyncFolderItemsValidates) {
  EXPECT_EQ(validator_->validate(sync_folder_items_request("agent1@contoso.com", model::FolderKind::contacts, "", 512)), "");
  EXPECT_EQ(validator_->validate(sync_folder_items_request("agent1@contoso.com", model::FolderKind::contacts,
                                                           "H4sIAAAAAAAEAGNgYGcAAotqE0tHE2NTA0ddZ3NHC10T+/=", 1)),
            "");
}

TEST_F(RequestSchemaTest, SubscribeAndGetStreamingEventsValidateAgainstTheSchema) {
  const std::vector<model::FolderKind> both{model::FolderKind::contacts, model::FolderKind::calendar};
  const auto impersonated = subscribe_request("agent1@contoso.com", both);
  EXPECT_EQ(validator_->validate(impersonated), "");
  EXPECT_NE(impersonated.find("<t:PrimarySmtpAddress>agent1@contoso.com<"), std::string::npos);
  const auto delegated = subscribe_request(Target("agent2@contoso.com", Addressing::delegate), both);
  EXPECT_EQ(validator_->validate(delegated), "");
  EXPECT_NE(delegated.find("<t:EmailAddress>agent2@contoso.com<"), std::string::npos);

  const auto events = get_streaming_events_request("agent1@contoso.com", {"sub-a", "sub-b&c"}, 45);
  EXPECT_EQ(validator_->validate(events), "");
  EXPECT_NE(events.find("<m:ConnectionTimeout>30<"), std::string::npos) << "Exchange allows 30 minutes at most";
  EXPECT_NE(events.find("sub-b&amp;c"), std::string::npos);
}

TEST_F(RequestSchemaTest, GetFolderValidates) {
  EXPECT_EQ(validator_->validate(get_folder_request("agent1@contoso.com", model::FolderKind::contacts)), "");
  EXPECT_EQ(validator_->validate(get_folder_request(Target("agent1@contoso.com", Addressing::delegate),
                                                    model::FolderKind::calendar)), "");
}

TEST_F(RequestSchemaTest, GetItemValidates) {
  EXPECT_EQ(validator_->validate(get_item_request("agent1@contoso.com", model::FolderKind::contacts,
                                                  {"AAMkADk5Njk2ZjM0LTZm+/==", "AQMkADllMTlh"})),
            "");
}

// Contacts' collections are asked entry by entry (gromox answers no other form): every email
// key, every PhoneNumberKeyType, every address field of Home, Business and Other.
TEST(RequestsTest, ContactGetItemAsksTheCollectionsEntryByEntry) {
  const auto req = get_item_request("agent1@contoso.com", model::FolderKind::contacts, {"AAMkAD="});
  pugi::xml_document doc;
  std::string problem;
  ASSERT_TRUE(parse_document(doc, req, problem)) << problem;
  std::map<std::string, std::set<std::string>> asked;
  int field_uris = 0;
  doc.find_node([&](const pugi::xml_node& n) {
    if (is_element(n, kTypesNs, "IndexedFieldURI")) asked[n.attribute("FieldURI").value()].insert(n.attribute("FieldIndex").value());
    if (is_element(n, kTypesNs, "FieldURI")) {
      ++field_uris;
      const std::string uri = n.attribute("FieldURI").value();
      EXPECT_TRUE(uri != "contacts:EmailAddresses" && uri != "contacts:PhoneNumbers" && uri != "contacts:PhysicalAddresses")
          << uri << ": gromox does not answer the collection form";
    }
    return false;
  });
  EXPECT_EQ(field_uris, 12);
  EXPECT_EQ(asked["contacts:EmailAddress"], (std::set<std::string>{"EmailAddress1", "EmailAddress2", "EmailAddress3"}));
  EXPECT_EQ(asked["contacts:PhoneNumber"].size(), 23u);
  for (const char* key : {"MobilePhone", "BusinessPhone", "HomePhone", "BusinessMobile", "Msn"})
    EXPECT_TRUE(asked["contacts:PhoneNumber"].contains(key)) << key;
  for (const char* field : {"Street", "City", "State", "CountryOrRegion", "PostalCode"})
    EXPECT_EQ(asked[std::string("contacts:PhysicalAddress:") + field], (std::set<std::string>{"Home", "Business", "Other"}))
        << field;
  EXPECT_EQ(asked.size(), 7u);
  // A calendar GetItem has none.
  EXPECT_EQ(get_item_request("agent1@contoso.com", model::FolderKind::calendar, {"AAMkAD="}).find("IndexedFieldURI"),
            std::string::npos);
}

TEST_F(RequestSchemaTest, CalendarRequestsValidate) {
  EXPECT_EQ(validator_->validate(sync_folder_items_request("agent1@contoso.com", model::FolderKind::calendar, "", 512)), "");
  EXPECT_EQ(validator_->validate(get_item_request("agent1@contoso.com", model::FolderKind::calendar, {"AAMkAD="})), "");
}

TEST_F(RequestSchemaTest, TheValidatorCatchesAnInvalidRequest) {
  auto req = sync_folder_items_request("agent1@contoso.com", model::FolderKind::contacts, "", 512);
  req.replace(req.find("IdOnly"), 6, "Everything");
  EXPECT_NE(validator_->validate(req), "");
}

TEST(RequestsTest, HostileValuesAreEscapedNotInjected) {
  const std::string hostile = "x\"/><t:Evil/>&<![CDATA[]]>\x01";
  auto req = get_item_request("agent1@contoso.com", model::FolderKind::contacts, {hostile});
  pugi::xml_document doc;
  std::string problem;
  ASSERT_TRUE(parse_document(doc, req, problem)) << problem;
  auto ids = child(child(child(doc.document_element(), kSoapNs, "Body"), kMessagesNs, "GetItem"), kMessagesNs, "ItemIds");
  int n = 0;
  for (auto id = ids.first_child(); id; id = id.next_sibling()) {
    ++n;
    EXPECT_EQ(std::string(id.attribute("Id").value()), "x\"/><t:Evil/>&<![CDATA[]]>");  // the control char is dropped
  }
  EXPECT_EQ(n, 1);
}

TEST(RequestsTest, ImpersonationHeaderNamesTheMailbox) {
  auto req = sync_folder_items_request("agent7@contoso.com", model::FolderKind::contacts, "", 512);
  pugi::xml_document doc;
  std::string problem;
  ASSERT_TRUE(parse_document(doc, req, problem));
  auto header = child(doc.document_element(), kSoapNs, "Header");
  EXPECT_EQ(child(header, kTypesNs, "RequestServerVersion").attribute("Version").value(), std::string("Exchange2013_SP1"));
  auto sid = child(child(header, kTypesNs, "ExchangeImpersonation"), kTypesNs, "ConnectingSID");
  EXPECT_EQ(child_text(sid, kTypesNs, "PrimarySmtpAddress"), "agent7@contoso.com");
}

// Delegate access: no impersonation header; every distinguished folder names the mailbox.
TEST(RequestsTest, DelegateRequestsNameTheMailboxInEachFolderAndNoImpersonation) {
  const Target target("agent7@contoso.com", Addressing::delegate);
  model::OutgoingMessage m;
  m.to = {{"", "ann@example.com"}};
  m.subject = "Offer";
  const std::array<std::pair<std::string, std::string>, 5> requests{{
      {"contacts", sync_folder_items_request(target, model::FolderKind::contacts, "", 512)},
      {"calendar", sync_folder_items_request(target, model::FolderKind::calendar, "", 512)},
      {"contacts", create_item_request(target, model::FolderKind::contacts, {}, "tag")},
      {"contacts", find_item_by_tag_request(target, "contacts", "tag")},
      {"sentitems", send_message_request(target, m)},
  }};
  for (const auto& [folder, req] : requests) {
    pugi::xml_document doc;
    std::string problem;
    ASSERT_TRUE(parse_document(doc, req, problem)) << problem;
    EXPECT_FALSE(child(child(doc.document_element(), kSoapNs, "Header"), kTypesNs, "ExchangeImpersonation")) << req;
    int folders = 0;
    doc.find_node([&](const pugi::xml_node& n) {
      if (!is_element(n, kTypesNs, "DistinguishedFolderId")) return false;
      ++folders;
      EXPECT_EQ(std::string(n.attribute("Id").value()), folder);
      EXPECT_EQ(child_text(child(n, kTypesNs, "Mailbox"), kTypesNs, "EmailAddress"), "agent7@contoso.com");
      return false;
    });
    EXPECT_EQ(folders, 1) << req;
  }
  // The message goes out From the agent (Send As), not from the service account.
  EXPECT_NE(send_message_request(target, m).find("<t:From><t:Mailbox><t:EmailAddress>agent7@contoso.com<"),
            std::string::npos);
  EXPECT_EQ(send_message_request("agent7@contoso.com", m).find("<t:From>"), std::string::npos);
}

}  // namespace
}  // namespace exsync::ews

namespace exsync::ews {
namespace {

model::Contact sample_contact() {
  model::Contact c;
  c.display_name = "Dana <Cruz> & \"Co\"";
  c.given_name = "Dana";
  c.surname = "Cruz";
  c.nickname = "Dee";
  c.company = "Cruz & Co";
  c.job_title = "Buyer";
  c.emails = {{"EmailAddress1", "dana@example.com", "Dana"}, {"EmailAddress2", "d@work.example", ""}};
  c.phones = {{"MobilePhone", "+1 555 0101"}};
  c.addresses = {{"Home", "1 Main St", "Austin", "TX", "78701", "US"}};
  c.birthday = std::chrono::year_month_day{std::chrono::year(1980), std::chrono::May, std::chrono::day(4)};
  c.notes = "notes";
  c.categories = {"Buyer"};
  return c;
}

TEST_F(RequestSchemaTest, WriteRequestsValidate) {
  const auto c = sample_contact();
  EXPECT_EQ(validator_->validate(create_item_request("a@contoso.com", model::FolderKind::contacts, c, "0123abcd")), "");
  auto after = c;
  after.nickname.clear();
  after.birthday.reset();
  after.categories.clear();
  after.notes.clear();
  after.emails = {{"EmailAddress1", "dana@new.example", "Dana"}, {"EmailAddress3", "x@y.example", ""}};
  after.phones.clear();
  after.addresses = {{"Home", "2 Oak St", "", "TX", "78701", "US"}, {"Business", "9 Elm", "Dallas", "", "", ""}};
  after.job_title = "Seller";
  const auto update = update_item_request("a@contoso.com", {"AAMk=", "CK="}, c, after, false);
  EXPECT_EQ(validator_->validate(update), "") << update;
  EXPECT_EQ(validator_->validate(delete_item_request("a@contoso.com", {"AAMk=", "CK="})), "");
  EXPECT_EQ(validator_->validate(find_item_by_tag_request("a@contoso.com", "contacts", "0123abcd")), "");
}

// Several contacts in one CreateItem: valid, each with its own tag, in the order given.
TEST_F(RequestSchemaTest, ACreateOfSeveralContactsValidatesAndTagsEachInOrder) {
  std::vector<model::RemoteMailboxService::NewItem> items;
  for (int i = 0; i < 3; ++i) {
    auto c = sample_contact();
    c.display_name = "Buyer " + std::to_string(i);
    items.push_back({c, "0123abcd" + std::to_string(i)});
  }
  const auto req = create_items_request("a@contoso.com", model::FolderKind::contacts, items);
  EXPECT_EQ(validator_->validate(req), "") << req;
  pugi::xml_document doc;
  std::string problem;
  ASSERT_TRUE(parse_document(doc, req, problem)) << problem;
  std::vector<std::string> names, tags;
  doc.find_node([&](const pugi::xml_node& n) {
    if (is_element(n, kTypesNs, "Contact")) names.push_back(child_text(n, kTypesNs, "DisplayName"));
    if (is_element(n, kTypesNs, "ExtendedProperty")) tags.push_back(child_text(n, kTypesNs, "Value"));
    return false;
  });
  EXPECT_EQ(names, (std::vector<std::string>{"Buyer 0", "Buyer 1", "Buyer 2"}));
  EXPECT_EQ(tags, (std::vector<std::string>{"0123abcd0", "0123abcd1", "0123abcd2"}));
  // An event has no place in a CreateItem of contacts.
  items.push_back({model::Event{}, "x"});
  EXPECT_EQ(create_items_request("a@contoso.com", model::FolderKind::contacts, items), "");
}

TEST_F(RequestSchemaTest, EventAndMessageRequestsValidate) {
  model::Event e;
  e.subject = "Showing <12 Oak St>";
  e.location = "12 Oak St";
  e.body = "Keys & codes";
  e.start = "2026-03-27T10:00:00+01:00";
  e.end = "2026-03-27T11:00:00+01:00";
  e.time_zone = "Europe/Berlin";
  e.reminder_minutes = 30;
  e.free_busy = "Busy";
  e.sensitivity = "Normal";
  e.categories = {"Showing"};
  e.attendees = {{"Ann", "ann@example.com", "required", ""}, {"", "room@contoso.com", "resource", ""}};
  EXPECT_EQ(validator_->validate(create_event_request("a@contoso.com", e, "tag1", false)), "");
  EXPECT_EQ(validator_->validate(create_event_request("a@contoso.com", e, "tag1", true)), "");
  auto moved = e;
  moved.start = "2026-03-31T10:00:00+02:00";
  moved.end = "2026-03-31T11:00:00+02:00";
  moved.time_zone = "America/New_York";
  moved.location.clear();
  moved.reminder_minutes.reset();
  moved.attendees.pop_back();
  moved.categories.clear();
  moved.all_day = true;
  const auto update = update_event_request("a@contoso.com", {"AAMk=", "CK="}, e, moved, false, false);
  EXPECT_EQ(validator_->validate(update), "") << update;
  EXPECT_EQ(validator_->validate(delete_item_request("a@contoso.com", {"AAMk=", "CK="}, true)), "");
  model::OutgoingMessage m;
  m.local_id = "tag2";
  m.to = {{"Ann", "ann@example.com"}};
  m.bcc = {{"", "b@example.com"}};
  m.subject = "Offer";
  m.body = "<p>Hi</p>";
  m.html = true;
  m.attachments = {{"offer.pdf", "application/pdf", "JVBERi0xLjQK"}};
  EXPECT_EQ(validator_->validate(send_message_request("a@contoso.com", m)), "");
  EXPECT_EQ(validator_->validate(find_item_by_tag_request("a@contoso.com", "sentitems", "tag2")), "");
  // The same requests as a delegate (the mailbox in each folder id, From for Send As).
  const Target delegate("a@contoso.com", Addressing::delegate);
  EXPECT_EQ(validator_->validate(send_message_request(delegate, m)), "");
  EXPECT_EQ(validator_->validate(find_item_by_tag_request(delegate, "sentitems", "tag2")), "");
  EXPECT_EQ(validator_->validate(sync_folder_items_request(delegate, model::FolderKind::calendar, "", 512)), "");
  EXPECT_EQ(validator_->validate(create_item_request(delegate, model::FolderKind::contacts, sample_contact(), "t")), "");
  EXPECT_EQ(validator_->validate(create_event_request(delegate, e, "tag1", false)), "");
}

TEST(WriteRequestsTest, AnUpdateNamesExactlyTheChangedFields) {
  const auto before = sample_contact();
  auto after = before;
  after.job_title = "Seller";
  after.nickname.clear();
  after.emails[1].address = "d@new.example";
  after.addresses[0].city = "Dallas";
  const auto req = update_item_request("a@contoso.com", {"AAMk=", "CK="}, before, after, false);
  EXPECT_NE(req.find("ConflictResolution=\"NeverOverwrite\""), std::string::npos);
  EXPECT_NE(req.find("<t:ItemId Id=\"AAMk=\" ChangeKey=\"CK=\"/>"), std::string::npos);
  EXPECT_NE(req.find("<t:SetItemField><t:FieldURI FieldURI=\"contacts:JobTitle\"/>"), std::string::npos);
  EXPECT_NE(req.find("<t:DeleteItemField><t:FieldURI FieldURI=\"contacts:Nickname\"/></t:DeleteItemField>"), std::string::npos);
  EXPECT_NE(req.find("<t:IndexedFieldURI FieldURI=\"contacts:EmailAddress\" FieldIndex=\"EmailAddress2\"/>"), std::string::npos);
  EXPECT_NE(req.find("<t:IndexedFieldURI FieldURI=\"contacts:PhysicalAddress:City\" FieldIndex=\"Home\"/>"), std::string::npos);
  for (const char* untouched : {"contacts:Surname", "contacts:GivenName", "contacts:DisplayName", "FieldIndex=\"EmailAddress1\"",
                                "contacts:PhoneNumber", "PhysicalAddress:Street", "item:Body", "item:Categories", "contacts:Birthday"})
    EXPECT_EQ(req.find(untouched), std::string::npos) << untouched;
  EXPECT_EQ(update_item_request("a@contoso.com", {"AAMk=", "CK="}, before, before, false), "") << "nothing changed: nothing to send";
}

TEST(WriteRequestsTest, ACreateCarriesTheLocalIdTag) {
  const auto req = create_item_request("a@contoso.com", model::FolderKind::contacts, sample_contact(), "abc123");
  EXPECT_NE(req.find("PropertyName=\"exsync-local-id\" PropertyType=\"String\"/><t:Value>abc123</t:Value>"), std::string::npos);
  EXPECT_NE(req.find("<t:Birthday>1980-05-04T11:59:00Z</t:Birthday>"), std::string::npos);
  EXPECT_NE(req.find("Dana &lt;Cruz&gt; &amp; &quot;Co&quot;"), std::string::npos);
}

}  // namespace
}  // namespace exsync::ews
