#include "exsync/ews/responses.hpp"

#include <gtest/gtest.h>

#include "exsync/ews/xml.hpp"
#include "test_support.hpp"

namespace exsync::ews {
namespace {

using model::ChangeKind;
using model::RemoteErrorKind;

// The item ids a GetItem answer names, one per response message in order ("" for a message
// without an item): the ids its request must have asked for.
std::vector<std::string> ids_answered(std::string_view xml) {
  pugi::xml_document doc;
  std::string problem;
  std::vector<std::string> ids;
  if (!parse_document(doc, xml, problem)) return ids;
  struct Walker : pugi::xml_tree_walker {
    std::vector<std::string>* ids;
    bool for_each(pugi::xml_node& n) override {
      const std::string_view name = local_name(n);
      if (n.type() == pugi::node_element && name.size() > 15 && name.ends_with("ResponseMessage")) {
        ids->push_back(n.find_node([](const pugi::xml_node& c) { return local_name(c) == "ItemId"; })
                           .attribute("Id")
                           .value());
      }
      return true;
    }
  } walker;
  walker.ids = &ids;
  doc.traverse(walker);
  return ids;
}

// The items of a GetItem answer parsed for the ids it names, as if those were asked; refusals
// fail it.
Result<std::vector<model::RemoteItem>, model::RemoteError> parse_answer(std::string_view xml) {
  auto got = parse_get_item(xml, ids_answered(xml));
  if (!got) return Fail{std::move(got).error()};
  if (!got->refused.empty()) return Fail{model::RemoteError{model::RemoteErrorKind::server, got->refused[0].message, got->refused[0].code}};
  return std::move(got->items);
}

// Responses recorded from Exchange Online, Exchange Server and documented by Microsoft, read
// from ../shared/ews-captures (never copied into the repository).
class CapturedResponseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto shared = test::shared_dir();
    if (!shared || !std::filesystem::exists(*shared / "ews-captures" / "ews"))
      GTEST_FAIL() << "../shared/ews-captures is missing: the recorded answers must sit beside the clone";
    dir_ = *shared / "ews-captures" / "ews";
  }
  std::string capture(const std::string& name) {
    auto text = test::read_file(dir_ / name);
    EXPECT_FALSE(text.empty()) << name;
    return text;
  }
  std::filesystem::path dir_;
};

TEST_F(CapturedResponseTest, ReadsAFoldersTotalCount) {
  for (const auto* name : {"getfolder_contacts_exo.xml", "getfolder_calendar_exo.xml", "getfolder_contacts_ex2019.xml"}) {
    const auto xml = capture(name);
    const auto at = xml.find("TotalCount>") + 11;
    auto total = parse_folder_total(xml);
    ASSERT_TRUE(total) << name << ": " << total.error().message;
    EXPECT_EQ(*total, std::stoll(xml.substr(at, xml.find('<', at) - at))) << name;
  }
  auto denied = parse_folder_total(capture("getitem_error_accessdenied_CONSTRUCTED.xml"));
  EXPECT_FALSE(denied) << "a GetItem answer is not a folder's";
}

TEST_F(CapturedResponseTest, ReadsAnExchangeOnlineContact) {
  auto items = parse_answer(capture("getitem_contact_exo.xml"));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  const auto& item = (*items)[0];
  EXPECT_EQ(item.ref.id.substr(0, 12), "AQMkADllMTlh");
  EXPECT_EQ(item.ref.change_key, "EQAAABYAAAC30utV9Qm1Tp6i563HuBDKAAER7BoE");
  const auto& c = std::get<model::Contact>(item.payload);
  EXPECT_EQ(c.display_name, "Jane Smith");
  EXPECT_EQ(c.given_name, "Jane");
  EXPECT_EQ(c.surname, "Smith");
  EXPECT_EQ(c.file_as, "");
  ASSERT_EQ(c.emails.size(), 1u);
  EXPECT_EQ(c.emails[0], (model::EmailAddress{"EmailAddress1", "jane.smith@gmail.com", "jane.smith@gmail.com"}));
  ASSERT_EQ(c.addresses.size(), 1u);
  EXPECT_EQ(c.addresses[0], (model::PostalAddress{"Home", "123 Street New", "123 City New", "123 State", "12345", "123 Country"}));
  ASSERT_EQ(c.phones.size(), 1u);
  EXPECT_EQ(c.phones[0], (model::PhoneNumber{"HomePhone", "111"}));
  EXPECT_EQ(format_rfc3339_utc(*c.last_modified), "2020-09-10T14:15:19Z");
  EXPECT_TRUE(c.notes.empty());
}

TEST_F(CapturedResponseTest, ReadsAnExchange2019ContactWithNonAsciiNames) {
  auto items = parse_answer(capture("getitem_contact_intl_ex2019.xml"));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ(std::get<model::Contact>((*items)[0].payload).given_name, "François");
}

TEST_F(CapturedResponseTest, ReadsSeveralEmailAddressesAndPhones) {
  auto items = parse_answer(capture("getitem_contact_multiemail_ex2019.xml"));
  ASSERT_TRUE(items);
  const auto& c = std::get<model::Contact>((*items)[0].payload);
  ASSERT_EQ(c.emails.size(), 2u);
  EXPECT_EQ(c.emails[1].key, "EmailAddress2");
  EXPECT_EQ(c.emails[1].address, "personal@email.com");
  ASSERT_EQ(c.phones.size(), 2u);
  EXPECT_EQ(c.phones[1], (model::PhoneNumber{"MobilePhone", "+1-555-0200"}));
}

TEST_F(CapturedResponseTest, ReadsContactChangesAndPaging) {
  auto created = parse_sync_folder_items(capture("syncfolderitems_contacts_create_DERIVED.xml"));
  ASSERT_TRUE(created) << created.error().message;
  ASSERT_EQ(created->changes.size(), 1u);
  EXPECT_EQ(created->changes[0].kind, ChangeKind::created);
  EXPECT_FALSE(created->changes[0].ref.change_key.empty());
  EXPECT_TRUE(created->last_page);
  EXPECT_EQ(created->next_cursor.substr(0, 8), "H4sIAAAA");

  auto more = parse_sync_folder_items(capture("syncfolderitems_contacts_create_morepages_DERIVED.xml"));
  ASSERT_TRUE(more);
  EXPECT_FALSE(more->last_page);

  auto ud = parse_sync_folder_items(capture("syncfolderitems_contacts_update_delete_DERIVED.xml"));
  ASSERT_TRUE(ud);
  ASSERT_EQ(ud->changes.size(), 2u);
  EXPECT_EQ(ud->changes[0].kind, ChangeKind::updated);
  EXPECT_EQ(ud->changes[1].kind, ChangeKind::deleted);
  EXPECT_FALSE(ud->changes[1].ref.id.empty());
}

TEST_F(CapturedResponseTest, ReadsCalendarChangesAndEmptyChanges) {
  auto cal = parse_sync_folder_items(capture("syncfolderitems_calendar_create_exo.xml"));
  ASSERT_TRUE(cal);
  ASSERT_EQ(cal->changes.size(), 1u);
  EXPECT_EQ(cal->changes[0].kind, ChangeKind::created);
  auto none = parse_sync_folder_items(capture("syncfolderitems_calendar_nochanges_exo.xml"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->changes.empty());
  EXPECT_FALSE(none->next_cursor.empty());
}

TEST_F(CapturedResponseTest, ReadsARecurringMasterWithItsPatternAndRange) {
  auto items = parse_answer(capture("getitem_calendar_recurringmaster_ex2019.xml"));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  const auto& e = std::get<model::Event>((*items)[0].payload);
  ASSERT_TRUE(e.recurrence);
  EXPECT_EQ(e.recurrence->pattern, "weekly");
  EXPECT_EQ(e.recurrence->range, "numbered");
  EXPECT_GT(e.recurrence->count, 0);
  EXPECT_EQ(e.recurrence->start_date.size(), 10u);
  EXPECT_FALSE(e.uid.empty());
  EXPECT_EQ(e.reminder_minutes, 15);
  EXPECT_FALSE(e.start.empty());
}

TEST_F(CapturedResponseTest, ReadsADailySeriesFromExchange2010) {
  auto items = parse_answer(capture("getitem_calendar_recurringmaster_tzdef_extprops_ex2010sp2.xml"));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  const auto& e = std::get<model::Event>((*items)[0].payload);
  ASSERT_TRUE(e.recurrence);
  EXPECT_EQ(e.recurrence->pattern, "daily");
  EXPECT_EQ(e.recurrence->count, 3);
  EXPECT_EQ(e.recurrence->start_date, "2013-05-19");
}

TEST_F(CapturedResponseTest, ReadsASingleExchangeOnlineAppointment) {
  auto items = parse_answer(capture("getitem_calendar_single_exo.xml"));
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 1u);
  const auto& e = std::get<model::Event>((*items)[0].payload);
  EXPECT_FALSE(e.subject.empty());
  EXPECT_FALSE(e.recurrence);
  EXPECT_EQ(e.start.size(), 25u) << e.start;  // RFC 3339 with an offset
}

TEST(EventXmlTest, TimesAreShownInTheEventsOwnZoneAndAllDayKeepsItsDate) {
  const std::string xml = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>)"
      R"(<t:CalendarItem><t:ItemId Id="A" ChangeKey="B"/><t:Subject>Open house</t:Subject><t:Start>2026-03-08T17:00:00Z</t:Start><t:End>2026-03-08T18:00:00Z</t:End><t:IsAllDayEvent>false</t:IsAllDayEvent><t:StartTimeZoneId>Pacific Standard Time</t:StartTimeZoneId></t:CalendarItem>)"
      R"(</m:Items></m:GetItemResponseMessage><m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:CalendarItem><t:ItemId Id="C" ChangeKey="D"/><t:Subject>Closing day</t:Subject><t:Start>2026-05-01T04:00:00Z</t:Start><t:End>2026-05-02T04:00:00Z</t:End><t:IsAllDayEvent>true</t:IsAllDayEvent><t:StartTimeZoneId>Eastern Standard Time</t:StartTimeZoneId></t:CalendarItem>)"
      R"(</m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>)";
  auto items = parse_answer(xml);
  ASSERT_TRUE(items) << items.error().message;
  ASSERT_EQ(items->size(), 2u);
  const auto& meeting = std::get<model::Event>((*items)[0].payload);
  EXPECT_EQ(meeting.time_zone, "America/Los_Angeles");
  EXPECT_EQ(meeting.start, "2026-03-08T10:00:00-07:00");  // the day US daylight saving starts
  const auto& closing = std::get<model::Event>((*items)[1].payload);
  EXPECT_TRUE(closing.all_day);
  EXPECT_EQ(closing.start, "2026-05-01T00:00:00-04:00");
  EXPECT_EQ(closing.end, "2026-05-02T00:00:00-04:00");
}

TEST_F(CapturedResponseTest, InvalidSyncStateIsRecognisedWhateverThePrefixes) {
  for (const char* name : {"syncfolderitems_error_invalidsyncstatedata_msdocs.xml",
                           "syncfolderitems_error_invalidsyncstatedata_exo_CONSTRUCTED.xml"}) {
    auto r = parse_sync_folder_items(capture(name));
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().kind, RemoteErrorKind::invalid_sync_state) << name;
    EXPECT_EQ(r.error().code, "ErrorInvalidSyncStateData");
    EXPECT_NE(r.error().message.find("Synchronization state data is corrupt"), std::string::npos);
  }
}

TEST_F(CapturedResponseTest, ServerBusyCarriesItsBackOff) {
  auto msg = parse_sync_folder_items(capture("syncfolderitems_error_serverbusy_responselevel_CONSTRUCTED.xml"));
  ASSERT_FALSE(msg);
  EXPECT_EQ(msg.error().kind, RemoteErrorKind::throttled);
  EXPECT_EQ(msg.error().retry_after, std::chrono::milliseconds(5000));

  auto fault = error_for_http_response(500, capture("fault_errorserverbusy_backoff_http500.xml"), "");
  EXPECT_EQ(fault.kind, RemoteErrorKind::throttled);
  EXPECT_EQ(fault.code, "ErrorServerBusy");
  EXPECT_EQ(fault.retry_after, std::chrono::milliseconds(297749));
  auto davmail = error_for_http_response(500, capture("fault_errorserverbusy_backoff_davmail161.xml"), "");
  EXPECT_EQ(davmail.retry_after, std::chrono::milliseconds(178510));
}

TEST_F(CapturedResponseTest, ImpersonationAndMailboxFaultsAreTyped) {
  auto denied = error_for_http_response(500, capture("fault_errorimpersonateuserdenied_http500_exo.xml"), "");
  EXPECT_EQ(denied.kind, RemoteErrorKind::impersonation_denied);
  EXPECT_EQ(denied.code, "ErrorImpersonateUserDenied");
  auto missing = error_for_http_response(500, capture("fault_errornonexistentmailbox_impersonation_http500_CONSTRUCTED.xml"), "");
  EXPECT_EQ(missing.kind, RemoteErrorKind::mailbox_not_found);
  EXPECT_EQ(missing.message, "The SMTP address has no mailbox associated with it.");
}

TEST_F(CapturedResponseTest, Exchange2007SchemaFaultWithSoap11Prefix) {
  auto e = error_for_http_response(500, capture("fault_schemavalidation_http500_ex2007sp1.xml"), "");
  EXPECT_EQ(e.kind, RemoteErrorKind::protocol);
  EXPECT_EQ(e.code, "ErrorSchemaValidation");
  EXPECT_NE(e.message.find("The Enumeration constraint failed."), std::string::npos) << e.message;
}

TEST_F(CapturedResponseTest, GetItemErrors) {
  auto denied = parse_answer(capture("getitem_error_accessdenied_CONSTRUCTED.xml"));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, RemoteErrorKind::access_denied);
  // An item deleted since the sync is left out; its deletion comes with the next sync.
  auto gone = parse_answer(capture("getitem_error_itemnotfound_ex2010sp2_templated.xml"));
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_TRUE(gone->empty());
}

// One item the server will not hand over does not sink the answer: the others stand, the
// refused one is named with the server's code, and items the server stopped before are to be
// asked again. Errors that are not an item's own (throttling, access) still fail it whole.
TEST(ResponsesTest, APoisonItemIsRefusedAloneAndTheRestOfTheAnswerStands) {
  auto message = [](const std::string& body) { return "<m:GetItemResponseMessage " + body + "</m:GetItemResponseMessage>"; };
  auto error = [&](const std::string& code, const std::string& extra = "") {
    return message(R"(ResponseClass="Error"><m:MessageText>no</m:MessageText><m:ResponseCode>)" + code +
                   "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>" + extra + "<m:Items/>");
  };
  auto answer = [](const std::string& messages) {
    return std::string(R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>)") +
           messages + "</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>";
  };
  const auto ann = message(R"(ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Contact><t:ItemId Id="A" ChangeKey="1"/><t:DisplayName>Ann</t:DisplayName></t:Contact></m:Items>)");
  auto got = parse_get_item(answer(ann + error("ErrorCorruptData") + error("ErrorBatchProcessingStopped") +
                                   error("ErrorItemNotFound") + error("ErrorInvalidPropertyRequest")),
                            {"A", "B", "C", "D", "E"});
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->items.size(), 1u);
  EXPECT_EQ(got->items[0].ref.id, "A");
  ASSERT_EQ(got->refused.size(), 2u);
  EXPECT_EQ(got->refused[0].id, "B");
  EXPECT_EQ(got->refused[0].code, "ErrorCorruptData");
  EXPECT_EQ(got->refused[1].id, "E");
  EXPECT_EQ(got->unanswered, std::vector<std::string>{"C"});

  for (const auto& [code, kind] : {std::pair{"ErrorServerBusy", RemoteErrorKind::throttled},
                                   std::pair{"ErrorAccessDenied", RemoteErrorKind::access_denied},
                                   std::pair{"ErrorImpersonateUserDenied", RemoteErrorKind::impersonation_denied},
                                   std::pair{"ErrorNonExistentMailbox", RemoteErrorKind::mailbox_not_found}}) {
    auto whole = parse_get_item(answer(ann + error(code)), {"A", "B"});
    ASSERT_FALSE(whole) << code;
    EXPECT_EQ(whole.error().kind, kind) << code;
  }
  // An internal error that carries a back-off is the server's load, not the item.
  const auto backoff = R"(<m:MessageXml><t:Value Name="BackOffMilliseconds">3000</t:Value></m:MessageXml>)";
  auto loaded = parse_get_item(answer(ann + error("ErrorInternalServerError", backoff)), {"A", "B"});
  ASSERT_FALSE(loaded);
}

TEST(ResponsesTest, HttpStatusesWithoutSoapBodies) {
  auto busy = error_for_http_response(503, "", "7");
  EXPECT_EQ(busy.kind, RemoteErrorKind::throttled);
  EXPECT_EQ(busy.retry_after, std::chrono::seconds(7));
  EXPECT_EQ(error_for_http_response(429, "", "").kind, RemoteErrorKind::throttled);
  EXPECT_EQ(error_for_http_response(401, "", "").kind, RemoteErrorKind::unauthorized);
  EXPECT_EQ(error_for_http_response(502, "<html/>", "").kind, RemoteErrorKind::server);
}

TEST(ResponsesTest, DocumentsWithADoctypeAreRefused) {
  const char* xml = R"(<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>)";
  auto r = parse_sync_folder_items(xml);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, RemoteErrorKind::protocol);
  EXPECT_NE(r.error().message.find("DOCTYPE"), std::string::npos);
}

// Hostile documents: external entities (a DOCTYPE in any form), billion-laughs, deep nesting
// and invalid UTF-8 are refused before anything reads them.
TEST(ResponsesTest, HostileDocumentsAreRefusedNotExpanded) {
  const std::string body = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>";
  const std::string end = "</s:Body></s:Envelope>";
  std::string deep;
  for (int i = 0; i < 100; ++i) deep.insert(0, "<a>").append("</a>");
  const std::array<std::pair<std::string, std::string>, 5> cases{{
      {R"(<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>)" + body + "&x;" + end, "DOCTYPE"},
      {R"(<!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>)" + body + "&b;" + end,
       "DOCTYPE"},
      {body + deep + end, "nested deeper"},
      {body + "<t:DisplayName>Caf\xC3</t:DisplayName>" + end, "UTF-8"},
      {body + "<t:DisplayName>\xED\xA0\x80 surrogate</t:DisplayName>" + end, "UTF-8"},
  }};
  for (const auto& [xml, why] : cases) {
    for (auto r : {parse_sync_folder_items(xml).error(), parse_answer(xml).error()}) {
      EXPECT_EQ(r.kind, RemoteErrorKind::protocol) << xml;
      EXPECT_NE(r.message.find(why), std::string::npos) << r.message;
    }
  }
  // Well-formed multi-byte text and ordinary depth pass.
  pugi::xml_document doc;
  std::string problem;
  EXPECT_TRUE(parse_document(doc, body + "<a><b>Zoë 東京 🏠</b></a>" + end, problem)) << problem;
}

TEST(ResponsesTest, TruncatedAndForeignXmlIsAProtocolError) {
  EXPECT_EQ(parse_answer("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Bo").error().kind,
            RemoteErrorKind::protocol);
  EXPECT_EQ(parse_answer("<html><body>Sign in</body></html>").error().kind, RemoteErrorKind::protocol);
}

std::string contact_response(const std::string& contact_children) {
  return R"(<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetItemResponse xmlns="http://schemas.microsoft.com/exchange/services/2006/messages"><ResponseMessages><GetItemResponseMessage ResponseClass="Success"><ResponseCode>NoError</ResponseCode><Items><c:Contact xmlns:c="http://schemas.microsoft.com/exchange/services/2006/types"><c:ItemId Id="X" ChangeKey="Y"/>)" +
         contact_children + "</c:Contact></Items></GetItemResponseMessage></ResponseMessages></GetItemResponse></soap:Body></soap:Envelope>";
}

TEST(ResponsesTest, BirthdayIsTheDateTheUserEntered) {
  // 12 April entered in UTC+2, in UTC-7, and as Outlook 2013+ stores it (11:59).
  for (const char* instant : {"1985-04-11T22:00:00Z", "1985-04-12T07:00:00Z", "1985-04-12T11:59:00Z", "1985-04-12T00:00:00Z"}) {
    auto items = parse_answer(contact_response(std::string("<c:Birthday>") + instant + "</c:Birthday>"));
    ASSERT_TRUE(items) << items.error().message;
    EXPECT_EQ(format_date(*std::get<model::Contact>((*items)[0].payload).birthday), "1985-04-12") << instant;
  }
}

TEST(ResponsesTest, EscapedTextComesBackVerbatimAndPrefixesDoNotMatter) {
  auto items = parse_answer(contact_response("<c:DisplayName>&lt;&amp;]]&gt;&quot;</c:DisplayName><c:Body BodyType=\"Text\">a&#10;b</c:Body><c:Unknown>x</c:Unknown>"));
  ASSERT_TRUE(items) << items.error().message;
  const auto& c = std::get<model::Contact>((*items)[0].payload);
  EXPECT_EQ(c.display_name, "<&]]>\"");
  EXPECT_EQ(c.notes, "a\nb");
}

// The answer must be the one to its request: the operation's response element, one message per
// item asked, the items asked. Anything else is mismatched_answer, and none of it is data.
TEST(ResponsesTest, AnAnswerToAnotherRequestIsNeverTakenForThisOne) {
  const auto two = std::string(R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>)") +
                   R"(<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Contact><t:ItemId Id="A" ChangeKey="1"/><t:DisplayName>Ann</t:DisplayName></t:Contact></m:Items></m:GetItemResponseMessage>)"
                   R"(<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Contact><t:ItemId Id="B" ChangeKey="1"/><t:DisplayName>Bob</t:DisplayName></t:Contact></m:Items></m:GetItemResponseMessage>)"
                   R"(</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>)";
  ASSERT_TRUE(parse_get_item(two, {"A", "B"}));
  EXPECT_EQ(parse_get_item(two, {"A", "C"}).error().kind, RemoteErrorKind::mismatched_answer) << "an id not asked";
  EXPECT_EQ(parse_get_item(two, {"B", "A"}).error().kind, RemoteErrorKind::mismatched_answer) << "out of order";
  EXPECT_EQ(parse_get_item(two, {"A"}).error().kind, RemoteErrorKind::mismatched_answer) << "more than asked";
  EXPECT_EQ(parse_get_item(two, {"A", "B", "C"}).error().kind, RemoteErrorKind::mismatched_answer) << "fewer";
  // Another operation's answer, whatever it holds.
  EXPECT_EQ(parse_sync_folder_items(two).error().kind, RemoteErrorKind::mismatched_answer);
  EXPECT_EQ(parse_find_item(two).error().kind, RemoteErrorKind::mismatched_answer);
  EXPECT_EQ(parse_no_content(two, "DeleteItem").error().kind, RemoteErrorKind::mismatched_answer);
  EXPECT_EQ(parse_written_item(two, "CreateItem").error().kind, RemoteErrorKind::mismatched_answer);
  // gromox's stale answer to a send: a CreateItemResponse, never a SyncFolderItems page or a FindItem result.
  const std::string stale =
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:CreateItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><m:ResponseMessages><m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items/></m:CreateItemResponseMessage></m:ResponseMessages></m:CreateItemResponse></s:Body></s:Envelope>)";
  EXPECT_TRUE(parse_no_content(stale, "CreateItem"));
  EXPECT_EQ(parse_written_item(stale, "CreateItem").error().kind, RemoteErrorKind::mismatched_answer)
      << "a contact's create answered without the contact: its outcome is unknown, not refused";
  EXPECT_EQ(parse_find_item(stale).error().kind, RemoteErrorKind::mismatched_answer);
  EXPECT_EQ(parse_sync_folder_items(stale).error().kind, RemoteErrorKind::mismatched_answer);
  EXPECT_EQ(parse_written_item(stale, "UpdateItem", "A").error().kind, RemoteErrorKind::mismatched_answer);
  // An update answered for another item.
  const std::string updated =
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:UpdateItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:UpdateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Contact><t:ItemId Id="B" ChangeKey="2"/></t:Contact></m:Items></m:UpdateItemResponseMessage></m:ResponseMessages></m:UpdateItemResponse></s:Body></s:Envelope>)";
  EXPECT_TRUE(parse_written_item(updated, "UpdateItem", "B"));
  EXPECT_EQ(parse_written_item(updated, "UpdateItem", "A").error().kind, RemoteErrorKind::mismatched_answer);
}

namespace {
std::string create_answer(const std::vector<std::string>& messages) {
  std::string x = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:CreateItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>)";
  for (const auto& m : messages) x += m;
  return x + "</m:ResponseMessages></m:CreateItemResponse></s:Body></s:Envelope>";
}
std::string created(const std::string& id) {
  return R"(<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Contact><t:ItemId Id=")" +
         id + R"(" ChangeKey="1"/></t:Contact></m:Items></m:CreateItemResponseMessage>)";
}
std::string refused(const std::string& code) {
  return R"(<m:CreateItemResponseMessage ResponseClass="Error"><m:MessageText>no</m:MessageText><m:ResponseCode>)" + code +
         R"(</m:ResponseCode><m:Items/></m:CreateItemResponseMessage>)";
}
}  // namespace

// A CreateItem of several contacts: one outcome per item in the request's order; an item's own
// refusal is its outcome; throttling fails them all; another count is not this request's answer.
TEST(ResponsesTest, ACreateOfSeveralItemsAnswersEachInOrder) {
  auto three = parse_created_items(create_answer({created("A"), refused("ErrorInvalidPropertySet"), created("C")}), 3);
  ASSERT_TRUE(three) << three.error().message;
  ASSERT_EQ(three->size(), 3u);
  EXPECT_EQ((*three)[0]->id, "A");
  EXPECT_EQ((*three)[1].error().code, "ErrorInvalidPropertySet");
  EXPECT_EQ((*three)[2]->id, "C");
  EXPECT_EQ(parse_created_items(create_answer({created("A"), created("B")}), 3).error().kind,
            RemoteErrorKind::mismatched_answer);
  EXPECT_EQ(parse_created_items(create_answer({created("A"), refused("ErrorServerBusy")}), 2).error().kind,
            RemoteErrorKind::throttled);
  // A success without its ItemId: that item's outcome is unknown, the others' are known.
  auto bare = parse_created_items(create_answer({created("A"), R"(<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items/></m:CreateItemResponseMessage>)"}), 2);
  ASSERT_TRUE(bare);
  EXPECT_EQ((*bare)[0]->id, "A");
  EXPECT_EQ((*bare)[1].error().kind, RemoteErrorKind::mismatched_answer);
}

TEST(ResponsesTest, AnErrorTheServerStatesItselfIsMarkedAnswered) {
  const std::string refused =
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:CreateItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><m:ResponseMessages><m:CreateItemResponseMessage ResponseClass="Error"><m:MessageText>Send As denied</m:MessageText><m:ResponseCode>ErrorSendAsDenied</m:ResponseCode></m:CreateItemResponseMessage></m:ResponseMessages></m:CreateItemResponse></s:Body></s:Envelope>)";
  auto e = parse_no_content(refused, "CreateItem").error();
  EXPECT_TRUE(e.answered);
  EXPECT_EQ(e.code, "ErrorSendAsDenied");
  EXPECT_FALSE(error_for_http_response(502, "<html>Bad Gateway</html>", "").answered) << "a proxy's page says nothing of the request";
  EXPECT_FALSE(parse_no_content("<html/>", "CreateItem").error().answered);
}

}  // namespace
}  // namespace exsync::ews
