#include "exsync/ews/notifications.hpp"

#include <gtest/gtest.h>

#include <random>


namespace exsync::ews {
namespace {

std::string envelope(const std::string& message) {
  return R"(<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Header xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><ServerVersionInfo xmlns="http://schemas.microsoft.com/exchange/services/2006/types" MajorVersion="15" MinorVersion="20"/></soap11:Header><soap11:Body xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><m:GetStreamingEventsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>)" +
         message + "</m:ResponseMessages></m:GetStreamingEventsResponse></soap11:Body></Envelope>";
}

std::string notification(const std::string& id, const std::string& event) {
  return "<t:Notification><t:SubscriptionId>" + id + "</t:SubscriptionId><t:" + event +
         R"(><t:TimeStamp>2026-12-03T07:00:00Z</t:TimeStamp><t:ItemId Id="AAMk1" ChangeKey="EQAA"/><t:ParentFolderId Id="AAMkF" ChangeKey="AQAA"/></t:)" +
         event + "></t:Notification>";
}

TEST(StreamingEnvelopeTest, NotificationsNameTheirSubscriptionsOnce) {
  const auto xml = envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications>)" +
                            notification("sub-a", "CreatedEvent") + notification("sub-b", "ModifiedEvent") +
                            notification("sub-a", "DeletedEvent") +
                            R"(</m:Notifications></m:GetStreamingEventsResponseMessage>)");
  auto parsed = parse_streaming_envelope(xml, {"sub-a", "sub-b", "sub-c"});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->notified, (std::vector<std::string>{"sub-a", "sub-b"}));
  EXPECT_TRUE(parsed->lost.empty());
  EXPECT_FALSE(parsed->error);
  EXPECT_FALSE(parsed->closed);
}

TEST(StreamingEnvelopeTest, HeartbeatsAndTheEndOfTheConnectionCarryNoChange) {
  auto ok = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>)"), {"sub-a"});
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(ok->notified.empty());
  EXPECT_FALSE(ok->closed);
  auto closed = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>)"), {"sub-a"});
  ASSERT_TRUE(closed);
  EXPECT_TRUE(closed->closed);
  auto status = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications><t:Notification><t:SubscriptionId>sub-a</t:SubscriptionId><t:StatusEvent><t:Watermark>AQ==</t:Watermark></t:StatusEvent></t:Notification></m:Notifications></m:GetStreamingEventsResponseMessage>)"), {"sub-a"});
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->notified.empty()) << "a StatusEvent is not a change";
}

TEST(StreamingEnvelopeTest, LostSubscriptionsAreNamedWithTheServersReason) {
  auto lost = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>The subscription could not be found.</m:MessageText><m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:ErrorSubscriptionIds><t:SubscriptionId>sub-b</t:SubscriptionId></m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>)"), {"sub-a", "sub-b"});
  ASSERT_TRUE(lost) << lost.error().message;
  EXPECT_EQ(lost->lost, std::vector<std::string>{"sub-b"});
  ASSERT_TRUE(lost->error);
  EXPECT_EQ(lost->error->code, "ErrorSubscriptionNotFound");
  EXPECT_TRUE(lost->closed);

  auto busy = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>too many</m:MessageText><m:ResponseCode>ErrorExceededConnectionCount</m:ResponseCode></m:GetStreamingEventsResponseMessage>)"), {"sub-a"});
  ASSERT_TRUE(busy);
  ASSERT_TRUE(busy->error);
  EXPECT_EQ(busy->error->kind, model::RemoteErrorKind::throttled);
  EXPECT_TRUE(busy->lost.empty());
}

TEST(StreamingEnvelopeTest, AnEnvelopeNamingAnotherConnectionsSubscriptionIsRefused) {
  // A stray envelope (another connection's, delivered here) must not make another agent's
  // mailbox due, nor cost one its subscription.
  auto stray = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications>)" +
                                                 notification("sub-a", "CreatedEvent") + notification("sub-x", "CreatedEvent") +
                                                 "</m:Notifications></m:GetStreamingEventsResponseMessage>"),
                                        {"sub-a"});
  ASSERT_FALSE(stray);
  EXPECT_EQ(stray.error().kind, model::RemoteErrorKind::mismatched_answer);
  auto stray_lost = parse_streaming_envelope(envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:ErrorSubscriptionIds><t:SubscriptionId>sub-x</t:SubscriptionId></m:ErrorSubscriptionIds></m:GetStreamingEventsResponseMessage>)"), {"sub-a"});
  ASSERT_FALSE(stray_lost);
  EXPECT_EQ(stray_lost.error().kind, model::RemoteErrorKind::mismatched_answer);
  auto other_operation = parse_streaming_envelope(
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:SyncFolderItemsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"/></s:Body></s:Envelope>)",
      {"sub-a"});
  ASSERT_FALSE(other_operation);
  EXPECT_EQ(other_operation.error().kind, model::RemoteErrorKind::mismatched_answer);
}

TEST(StreamingEnvelopeTest, SubscribeAnswersCarryTheIdOrTheServersRefusal) {
  const std::string head = R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:SubscribeResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>)";
  const std::string tail = "</m:ResponseMessages></m:SubscribeResponse></s:Body></s:Envelope>";
  auto ok = parse_subscribe(head + R"(<m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SubscriptionId>JgBzbjJwcjA0bWIx</m:SubscriptionId></m:SubscribeResponseMessage>)" + tail);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, "JgBzbjJwcjA0bWIx");
  auto full = parse_subscribe(head + R"(<m:SubscribeResponseMessage ResponseClass="Error"><m:MessageText>You have exceeded the maximum number of subscriptions.</m:MessageText><m:ResponseCode>ErrorExceededSubscriptionCount</m:ResponseCode></m:SubscribeResponseMessage>)" + tail);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, "ErrorExceededSubscriptionCount");
  EXPECT_TRUE(full.error().answered);
  auto two = parse_subscribe(head + R"(<m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SubscriptionId>a</m:SubscriptionId></m:SubscribeResponseMessage><m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SubscriptionId>b</m:SubscriptionId></m:SubscribeResponseMessage>)" + tail);
  ASSERT_FALSE(two);
  EXPECT_EQ(two.error().kind, model::RemoteErrorKind::mismatched_answer);
}

TEST(EnvelopeSplitterTest, EnvelopesComeOutWholeHoweverTheBytesAreCut) {
  const std::string a = envelope(R"(<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>)");
  const std::string b = R"(<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>)";
  const std::string stream = a + "\r\n" + b + "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>";
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    EnvelopeSplitter splitter;
    std::vector<std::string> out;
    for (std::size_t at = 0; at < stream.size();) {
      const auto n = std::min<std::size_t>(stream.size() - at, 1 + rng() % 40);
      splitter.feed(std::string_view(stream).substr(at, n));
      at += n;
      while (auto e = splitter.next()) out.push_back(*e);
    }
    ASSERT_EQ(out.size(), 2u) << "trial " << trial;  // the third has not ended yet
    EXPECT_EQ(out[0], a);
    EXPECT_EQ(out[1], b);
  }
}

}  // namespace
}  // namespace exsync::ews
