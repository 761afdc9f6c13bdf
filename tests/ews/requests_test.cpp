#include "exsync/ews/requests.hpp"

#include <gtest/gtest.h>

#include "exsync/ews/namespaces.hpp"
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
      GTEST_SKIP() << "../shared/ews-schema is absent (a user's clone): cannot validate requests";
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

TEST_F(RequestSchemaTest, GetItemValidates) {
  EXPECT_EQ(validator_->validate(get_item_request("agent1@contoso.com", model::FolderKind::contacts,
                                                  {"AAMkADk5Njk2ZjM0LTZm+/==", "AQMkADllMTlh"})),
            "");
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

}  // namespace
}  // namespace exsync::ews
