// Sending mail through the agent's mailbox: the real engine, EWS adapter and store against the
// simulator, whose Sent Items show what went out.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "ews_stack.hpp"
#include "exsync/model/message_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

class SendMessageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    remote_ = std::make_unique<test::EwsStack>(sim_, io_);
    store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_);
  }
  void TearDown() override {
    pool_.join();
    sim_.expect_schema_valid_requests();
  }
  std::vector<boost::json::object> sent_items() {
    std::vector<boost::json::object> out;
    std::istringstream in(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb_) + "/sent").body);
    std::string line;
    while (std::getline(in, line)) out.push_back(boost::json::parse(line).as_object());
    return out;
  }
  model::OutgoingMessage message() {
    return *model::message_from_json(R"({"to":[{"name":"Ann Buyer","address":"ann@example.com"}],"cc":["cc@example.com"],
      "subject":"Offer for 12 Oak St <draft> & more","html":"<p>Hi Ann,</p><p>Here is the offer.</p>",
      "attachments":[{"name":"offer.pdf","content_type":"application/pdf","content_base64":"JVBERi0xLjQK"}]})");
  }

  const std::string mb_ = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 1, .contacts = 0}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST_F(SendMessageTest, AQueuedMessageIsSentOnceAndLandsInSentItems) {
  auto id = store_->queue_message(mb_, message());
  ASSERT_TRUE(id);
  auto sent = test::run(io_, engine_->send_messages(mb_));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 1);
  auto items = sent_items();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].at("subject"), "Offer for 12 Oak St <draft> & more");
  EXPECT_EQ(items[0].at("body"), "<p>Hi Ann,</p><p>Here is the offer.</p>");
  EXPECT_TRUE(items[0].at("html").as_bool());
  EXPECT_EQ(items[0].at("to").as_array().front(), "ann@example.com");
  EXPECT_EQ(items[0].at("cc").as_array().front(), "cc@example.com");
  EXPECT_EQ(items[0].at("attachments").as_array().front(), "offer.pdf");
  auto status = store_->message_status(mb_, *id);
  EXPECT_EQ((*status)->state, "sent");
  // Nothing is sent again on the next pass.
  EXPECT_EQ(*test::run(io_, engine_->send_messages(mb_)), 0);
  EXPECT_EQ(sent_items().size(), 1u);
}

// The daemon is killed after Exchange sent the message and before the store recorded it: the
// next pass finds the message's tag in Sent Items and does not send it again.
TEST_F(SendMessageTest, AMessageOfUncertainOutcomeIsNeverSentTwice) {
  auto id = *store_->queue_message(mb_, message());
  auto queued = *store_->queued_messages(mb_);
  ASSERT_EQ(queued.size(), 1u);
  ASSERT_TRUE(store_->begin_send(id));
  ASSERT_TRUE(test::run(io_, remote_->ews->send(mb_, queued[0].message)));
  // ... crash before finish_send. The next pass:
  auto sent = test::run(io_, engine_->send_messages(mb_));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 1);
  EXPECT_EQ(sent_items().size(), 1u);
  EXPECT_EQ((*store_->message_status(mb_, id))->state, "sent");
}

TEST_F(SendMessageTest, AnAttemptThatNeverReachedExchangeIsRetried) {
  auto id = *store_->queue_message(mb_, message());
  ASSERT_TRUE(store_->begin_send(id));  // the attempt was recorded, then the daemon died
  auto sent = test::run(io_, engine_->send_messages(mb_));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, 1);
  EXPECT_EQ(sent_items().size(), 1u);
}

// gromox 3.10: a send refused with HTTP 500 after the copy was saved to Sent Items, then a stale
// HTTP 200 on the same connection. Nobody received the message: it is a failure with the
// server's words, never "found in Sent Items"; the stray answer goes to no later request; and
// the mailbox's contacts sync on at once.
TEST_F(SendMessageTest, ARefusalIsAFailureEvenWhenTheServerKeptACopyAndTheMailboxSyncsOn) {
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"echo_request_id":false})").status, 204);
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"send_refused_saved","count":1})").status, 204);
  auto id = *store_->queue_message(mb_, message());
  auto sent = test::run(io_, engine_->send_messages(mb_));
  ASSERT_TRUE(sent) << "a refused message is no failure of the mailbox: " << sent.error().message();
  EXPECT_EQ(*sent, 0);
  auto status = *store_->message_status(mb_, id);
  EXPECT_EQ(status->state, "queued") << "tried again, up to three times";
  EXPECT_NE(status->last_error.find("ErrorInternalServerError"), std::string::npos) << status->last_error;
  EXPECT_EQ(sent_items().size(), 1u) << "the server's copy";

  // The next request on the server gets its own answer, not the stale one.
  sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mb_) + "/contacts", R"({"display_name":"Ann"})");
  auto synced = test::run(io_, engine_->sync_folder(mb_, model::FolderKind::contacts));
  ASSERT_TRUE(synced) << synced.error().message();
  EXPECT_EQ(synced->created, 1);

  // The retry sends it for real; Sent Items was not taken for proof.
  ASSERT_EQ(*test::run(io_, engine_->send_messages(mb_)), 1);
  EXPECT_EQ((*store_->message_status(mb_, id))->state, "sent");
  EXPECT_EQ(sent_items().size(), 2u);
}

TEST_F(SendMessageTest, AMessageRefusedThreeTimesFailsForGoodWithTheServersWords) {
  ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"send_refused_saved","count":3})").status, 204);
  auto id = *store_->queue_message(mb_, message());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(test::run(io_, engine_->send_messages(mb_)));
  auto status = *store_->message_status(mb_, id);
  EXPECT_EQ(status->state, "failed");
  EXPECT_EQ(status->attempts, 3);
  EXPECT_EQ(*test::run(io_, engine_->send_messages(mb_)), 0) << "given up: not sent again";
}

}  // namespace
}  // namespace exsync::sync
