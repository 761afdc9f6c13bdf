// Delegate access ([tenant] access = "delegate"): the service account reaches each agent's
// mailbox through its FullAccess permission, with no ExchangeImpersonation header, naming the
// mailbox in every folder id. The real engine, EWS adapter and store against the simulator.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "ews_stack.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/message_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;
namespace json = boost::json;

class DelegateAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    remote_ = std::make_unique<test::EwsStack>(sim_, io_, 16, ews::Addressing::delegate);
    store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_);
  }
  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }
  json::object stats() { return json::parse(sim_.control("GET", "/sim/stats").body).as_object(); }
  std::vector<json::object> sent_items(const std::string& mailbox) {
    std::vector<json::object> out;
    std::istringstream in(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mailbox) + "/sent").body);
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
    return out;
  }
  model::OutgoingMessage message() {
    return *model::message_from_json(R"({"to":["ann@example.com"],"subject":"Showing on Friday","text":"See you at 5."})");
  }

  const std::string mb1_ = "agent1@contoso.onmicrosoft.com";
  const std::string mb2_ = "agent2@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 12, .events = 4}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST_F(DelegateAccessTest, EachMailboxIsSyncedWrittenAndSentFromWithoutImpersonation) {
  for (const auto& mb : {mb1_, mb2_}) {
    auto contacts = test::run(io_, engine_->sync_folder(mb, FolderKind::contacts));
    ASSERT_TRUE(contacts) << contacts.error().message();
    EXPECT_EQ(contacts->created, 12) << mb;
    auto calendar = test::run(io_, engine_->sync_folder(mb, FolderKind::calendar));
    ASSERT_TRUE(calendar) << calendar.error().message();
    EXPECT_GT(calendar->created, 0) << mb;
  }
  // Each mailbox got its own items, not the service account's or the other agent's.
  EXPECT_EQ(store_->items(mb1_, FolderKind::contacts)->size(), 12u);
  EXPECT_EQ(store_->items(mb2_, FolderKind::contacts)->size(), 12u);
  EXPECT_NE(store_->items(mb1_, FolderKind::contacts)->front().remote.id,
            store_->items(mb2_, FolderKind::contacts)->front().remote.id);

  // A CRM contact is written into agent2's mailbox (CreateItem with the mailbox in the folder
  // id), then edited and deleted by item id.
  auto created = store_->local_create(mb2_, FolderKind::contacts, *model::contact_from_json(R"({"display_name":"Dana Cruz"})"));
  ASSERT_TRUE(created);
  ASSERT_TRUE(test::run(io_, engine_->sync_folder(mb2_, FolderKind::contacts)));
  EXPECT_EQ(sim_.contacts(mb2_).size(), 13u);
  EXPECT_EQ(sim_.contacts(mb1_).size(), 12u);

  // Mail goes out From agent2 and lands in agent2's Sent Items.
  ASSERT_TRUE(store_->queue_message(mb2_, message()));
  auto sent = test::run(io_, engine_->send_messages(mb2_));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 1);
  EXPECT_EQ(sent_items(mb2_).size(), 1u);
  EXPECT_EQ(sent_items(mb1_).size(), 0u);

  const auto s = stats();
  EXPECT_EQ(s.at("impersonated").as_int64(), 0);
  EXPECT_GT(s.at("delegated").as_int64(), 0);
}

TEST_F(DelegateAccessTest, WithoutFullAccessTheMailboxFailsAsAccessDenied) {
  sim_.control("PUT", "/sim/tenant", R"({"full_access":false})");
  auto r = test::run(io_, engine_->sync_folder(mb1_, FolderKind::contacts));
  ASSERT_FALSE(r);
  ASSERT_EQ(r.error().kind, SyncError::Kind::remote);
  EXPECT_EQ(r.error().remote.kind, model::RemoteErrorKind::access_denied);
  EXPECT_EQ(r.error().remote.code, "ErrorAccessDenied");
  EXPECT_TRUE(store_->items(mb1_, FolderKind::contacts)->empty());
}

TEST_F(DelegateAccessTest, WithoutSendAsTheMessageIsRefusedAndNotSent) {
  sim_.control("PUT", "/sim/tenant", R"({"send_as":false})");
  auto id = store_->queue_message(mb1_, message());
  ASSERT_TRUE(id);
  auto sent = test::run(io_, engine_->send_messages(mb1_));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 0);
  EXPECT_TRUE(sent_items(mb1_).empty());
  auto status = *store_->message_status(mb1_, *id);
  ASSERT_TRUE(status);
  EXPECT_NE(status->last_error.find("ErrorSendAsDenied"), std::string::npos) << status->last_error;
}

// An impersonating client (the default) is refused by a tenant that grants no impersonation,
// while the same service account as a delegate gets in: the two modes are told apart.
TEST_F(DelegateAccessTest, ImpersonationAndDelegateAccessAreGrantedSeparately) {
  sim_.control("PUT", "/sim/impersonation", R"({"allowed":false})");
  test::EwsStack impersonating(sim_, io_);
  auto refused = test::run(io_, impersonating.ews->changes(mb1_, FolderKind::contacts, "", 10));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, model::RemoteErrorKind::impersonation_denied);
  auto page = test::run(io_, remote_->ews->changes(mb1_, FolderKind::contacts, "", 10));
  ASSERT_TRUE(page) << page.error().message;
  EXPECT_EQ(page->changes.size(), 10u);
}

}  // namespace
}  // namespace exsync::sync
