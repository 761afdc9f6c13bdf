#include "ews_streaming.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "codec.hpp"
#include "ews_soap.hpp"
#include "exsync/ews/namespaces.hpp"
#include "exsync/core/time_format.hpp"
#include "exsync/ews/xml.hpp"

namespace exsync::sim {
namespace {

using ews::child;
using ews::child_text;
using ews::is_element;
using ews::kMessagesNs;
using ews::kTypesNs;
using SteadyClock = std::chrono::steady_clock;

std::string envelope_of(const std::string& message) { return operation_response("GetStreamingEvents", message).body; }

std::string status_message(std::string_view status) {
  return success_open("GetStreamingEvents") + "<m:ConnectionStatus>" + std::string(status) +
         "</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>";
}

std::string now_text() {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  return format_rfc3339_utc(now);
}

}  // namespace

// One open GetStreamingEvents, shared by its chunk producer.
struct EwsStreaming::Connection {
  explicit Connection(EwsStreaming& o) : owner(o) {}
  // A connection the client left ends when its answer is dropped (the next write failed).
  ~Connection() { owner.release(*this); }
  EwsStreaming& owner;
  std::vector<std::string> ids;
  std::string charged_to;
  SteadyClock::time_point closes_at, next_heartbeat;
  std::uint64_t drops = 0;
  bool ended = false;
};

void EwsStreaming::note_affinity(const http::Request& request) {
  if (request.header("X-AnchorMailbox").empty() || request.header("X-PreferServerAffinity") != "true")
    ++stats_.without_affinity;
}

bool EwsStreaming::expired(const Sub& s, SteadyClock::time_point now) const {
  return s.readers == 0 && now - s.last_read > policy_.lifetime;
}

http::Response EwsStreaming::subscribe(const http::Request& request, const pugi::xml_node& op, Mailbox& mb) {
  note_affinity(request);
  const auto now = SteadyClock::now();
  for (auto it = subs_.begin(); it != subs_.end();) it = expired(it->second, now) ? subs_.erase(it) : std::next(it);
  int held = 0;
  for (const auto& [_, s] : subs_) held += s.mailbox == mb.address ? 1 : 0;
  if (held >= policy_.max_per_mailbox) {
    ++stats_.refused_subscriptions;
    return operation_response("Subscribe", error_message("Subscribe", "ErrorExceededSubscriptionCount",
                                                         "You have exceeded the maximum number of subscriptions."));
  }
  auto request_node = child(op, kMessagesNs, "StreamingSubscriptionRequest");
  Sub s;
  s.mailbox = mb.address;
  s.contacts = is_distinguished(child(request_node, kTypesNs, "FolderIds"), "contacts");
  s.calendar = is_distinguished(child(request_node, kTypesNs, "FolderIds"), "calendar");
  if (!request_node || (!s.contacts && !s.calendar))
    return operation_response("Subscribe", error_message("Subscribe", "ErrorInvalidSubscriptionRequest",
                                                         "The subscription request is invalid."));
  s.contacts_seq = mb.seq;
  s.calendar_seq = mb.calendar.seq;
  s.epoch = mb.epoch;
  s.last_read = now;
  const std::string id = base64_encode("exsim-sub:" + mb.guid_tag + ":" + std::to_string(next_id_++));
  subs_[id] = s;
  ++stats_.subscribes;
  auto resp = operation_response("Subscribe", success_open("Subscribe") + "<m:SubscriptionId>" + id +
                                                  "</m:SubscriptionId></m:SubscribeResponseMessage>");
  if (request.header("X-PreferServerAffinity") == "true") {
    // Exchange Online names the mailbox server the subscription lives on.
    resp.headers.push_back({"Set-Cookie", "X-BackEndOverrideCookie=SIMPR01MB" +
                                              std::to_string(std::hash<std::string>{}(std::string(request.header("X-AnchorMailbox"))) % 10000) +
                                              ".sim.prod.outlook.com~1942354948; path=/; secure; HttpOnly"});
  }
  return resp;
}

EwsStreaming::Stream EwsStreaming::get_streaming_events(const http::Request& request, const pugi::xml_node& op,
                                                        const std::string& charged_to) {
  note_affinity(request);
  Stream out;
  if (hanging_[charged_to] >= policy_.connections_per_account) {
    ++stats_.refused_connections;
    out.head = operation_response(
        "GetStreamingEvents",
        error_message("GetStreamingEvents", "ErrorExceededConnectionCount",
                      "You have exceeded the available concurrent connections for your account.  Try again once your "
                      "other requests have completed."));
    return out;
  }
  auto conn = std::make_shared<Connection>(*this);
  for (auto n = child(child(op, kMessagesNs, "SubscriptionIds"), kTypesNs, "SubscriptionId"); n;
       n = n.next_sibling()) {
    if (is_element(n, kTypesNs, "SubscriptionId")) conn->ids.push_back(n.text().get());
  }
  const int minutes = std::clamp(std::atoi(child_text(op, kMessagesNs, "ConnectionTimeout").c_str()), 1, 30);
  const auto now = SteadyClock::now();
  conn->closes_at = now + policy_.minute * minutes;
  conn->next_heartbeat = now + policy_.heartbeat;
  conn->charged_to = charged_to;
  conn->drops = drops_;
  ++stats_.connections;
  ++hanging_[charged_to];
  ++open_;
  stats_.open_connections = open_;
  for (const auto& id : conn->ids) {
    if (auto it = subs_.find(id); it != subs_.end() && !expired(it->second, now)) ++it->second.readers;
  }
  out.head = http::Response{200, {{"Content-Type", "text/xml; charset=utf-8"}}, envelope_of(status_message("OK"))};
  ++stats_.heartbeats;
  out.chunks = [this, conn]() -> Task<std::optional<std::string>> {
    auto release = [&] { this->release(*conn); };
    if (conn->ended) co_return std::nullopt;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    for (;;) {
      if (conn->drops != drops_) {  // cut, without a Closed envelope
        release();
        co_return std::nullopt;
      }
      const auto now = SteadyClock::now();
      std::string notifications;
      std::string lost;
      for (const auto& id : conn->ids) {
        auto it = subs_.find(id);
        if (it == subs_.end()) {
          lost += "<t:SubscriptionId>" + id + "</t:SubscriptionId>";
          continue;
        }
        auto& s = it->second;
        s.last_read = now;
        const Mailbox* mb = tenant_.mailbox(s.mailbox);
        if (!mb) continue;
        const bool contacts = s.contacts && (mb->seq != s.contacts_seq || mb->epoch != s.epoch);
        const bool calendar = s.calendar && mb->calendar.seq != s.calendar_seq;
        s.contacts_seq = mb->seq;
        s.calendar_seq = mb->calendar.seq;
        s.epoch = mb->epoch;
        if (!contacts && !calendar) continue;
        notifications += "<t:Notification><t:SubscriptionId>" + id + "</t:SubscriptionId>";
        auto event = [&](const std::string& folder_id) {
          notifications += "<t:ModifiedEvent><t:TimeStamp>" + now_text() + "</t:TimeStamp><t:FolderId Id=\"" +
                           folder_id + "\" ChangeKey=\"AQAAAA==\"/><t:ParentFolderId Id=\"" + root_folder_id(*mb) +
                           "\" ChangeKey=\"AQAAAA==\"/><t:UnreadCount>0</t:UnreadCount></t:ModifiedEvent>";
        };
        if (contacts) event(contacts_folder_id(*mb));
        if (calendar) event(calendar_folder_id(*mb));
        notifications += "</t:Notification>";
        ++stats_.notifications;
      }
      if (!lost.empty()) {
        ++stats_.expired;
        release();
        co_return envelope_of(error_message("GetStreamingEvents", "ErrorSubscriptionNotFound",
                                            "The specified subscription was not found.",
                                            "<m:ErrorSubscriptionIds>" + lost + "</m:ErrorSubscriptionIds>"
                                            "<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
      }
      if (!notifications.empty()) {
        co_return envelope_of(success_open("GetStreamingEvents") + "<m:Notifications>" + notifications +
                              "</m:Notifications></m:GetStreamingEventsResponseMessage>");
      }
      if (now >= conn->closes_at) {
        release();
        co_return envelope_of(status_message("Closed"));
      }
      if (now >= conn->next_heartbeat) {
        conn->next_heartbeat = now + policy_.heartbeat;
        ++stats_.heartbeats;
        co_return envelope_of(status_message("OK"));
      }
      timer.expires_after(policy_.tick);
      auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      (void)ec;
    }
  };
  return out;
}

void EwsStreaming::release(Connection& conn) {
  if (conn.ended) return;
  conn.ended = true;
  --hanging_[conn.charged_to];
  --open_;
  stats_.open_connections = open_;
  const auto at = SteadyClock::now();
  for (const auto& id : conn.ids) {
    if (auto it = subs_.find(id); it != subs_.end() && it->second.readers > 0) {
      --it->second.readers;
      it->second.last_read = at;
    }
  }
}

void EwsStreaming::expire() { subs_.clear(); }

void EwsStreaming::drop() { ++drops_; }

}  // namespace exsync::sim
