#include "exsync/graph/change_notifications.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "exsync/core/time_format.hpp"
#include "exsync/crypto/base64.hpp"
#include "exsync/crypto/webhook_signature.hpp"
#include "exsync/graph/graph_json.hpp"
#include "exsync/log/log.hpp"
#include "exsync/remote/authorized_send.hpp"
#include "graph_common.hpp"

namespace exsync::graph {
namespace {

namespace json = boost::json;
using detail::lower;
using detail::str;
using model::RemoteError;
using model::RemoteErrorKind;
using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kMaxValidationToken = 4096;
constexpr std::string_view kNotYet = "not_subscribed";  // a watch's reason before its first try

// "users/a@b.com/contacts" and "/Users/A@B.com/Contacts" name the same resource.
std::string normalized_resource(std::string_view r) {
  if (!r.empty() && r.front() == '/') r.remove_prefix(1);
  return lower(std::string(r));
}

std::string_view collection_of(model::FolderKind folder) {
  return folder == model::FolderKind::calendar ? "events" : "contacts";
}

std::optional<SysClock::time_point> parse_expiry(const json::object& o) {
  auto t = parse_xs_datetime(str(o, "expirationDateTime"));
  if (!t) return std::nullopt;
  return SysClock::time_point(*t);
}

// An answer that was not its request's (`what`: "a subscription", "a renewal"): its connection
// is closed, and the error says why.
RemoteError not_its_own(http::Response& resp, std::string_view what, const std::string& why) {
  resp.connection.close();
  RemoteError e{RemoteErrorKind::mismatched_answer, "Graph's answer to " + std::string(what) + " was not its own: " + why,
                "", {}};
  e.request_id = resp.request_id;
  return e;
}

http::Response plain(int status, std::string body, std::string content_type = "application/json") {
  http::Response r;
  r.status = status;
  r.headers = {{"Content-Type", std::move(content_type)}, {"X-Content-Type-Options", "nosniff"}};
  r.body = std::move(body);
  return r;
}

}  // namespace

struct ChangeNotifications::Watch {
  std::string mailbox;
  model::FolderKind folder = model::FolderKind::contacts;
  std::string resource;
  std::string client_state;
  std::string id;  // the subscription, while it stands
  bool active = false;
  std::string reason;  // why it does not stand, when it does not
  SysClock::time_point expires{};
  Clock::time_point due{};  // when work() looks at it next: subscribe, or renew
  bool busy = false;
};

struct ChangeNotifications::Wake {
  explicit Wake(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
};

ChangeNotifications::ChangeNotifications(http::Client& client, auth::TokenSource& tokens, NotificationSettings settings)
    : client_(client), tokens_(tokens), settings_(std::move(settings)) {
  settings_.lifetime = std::clamp(settings_.lifetime, std::chrono::minutes(1), kMaxLifetime);
  settings_.max_in_flight = std::max(1, settings_.max_in_flight);
}

ChangeNotifications::~ChangeNotifications() = default;

std::string ChangeNotifications::resource_of(const std::string& mailbox, model::FolderKind folder) {
  return "users/" + mailbox + "/" + std::string(collection_of(folder));
}

std::string ChangeNotifications::client_state(const std::string& resource) const {
  return crypto::base64url_encode(crypto::hmac_sha256(settings_.key, "exsync graph clientState\n" + resource));
}

std::size_t ChangeNotifications::live() const {
  return static_cast<std::size_t>(std::count_if(reported_.begin(), reported_.end(), [](const auto& r) { return r.second; }));
}

void ChangeNotifications::poke() {
  if (wake_) wake_->timer.cancel();
}

ChangeNotifications::Watch* ChangeNotifications::watch_by_id(const std::string& id) {
  auto it = ids_.find(id);
  if (it == ids_.end()) return nullptr;
  auto w = watches_.find(it->second);
  return w == watches_.end() ? nullptr : &w->second;
}

void ChangeNotifications::set_mailboxes(const std::vector<std::string>& mailboxes) {
  std::set<std::string> wanted;
  for (const auto& mb : mailboxes)
    for (auto f : settings_.folders) wanted.insert(resource_of(mb, f));
  for (auto it = watches_.begin(); it != watches_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    if (!it->second.id.empty()) {
      to_delete_.push_back(it->second.id);
      ids_.erase(it->second.id);
    }
    reported_.erase(it->second.mailbox);
    missed_.erase(it->second.mailbox);
    states_.erase(crypto::hmac_sha256(settings_.key, it->second.client_state));
    it = watches_.erase(it);
  }
  const auto now = Clock::now();
  for (const auto& mb : mailboxes) {
    for (auto f : settings_.folders) {
      auto resource = resource_of(mb, f);
      if (watches_.count(resource)) continue;
      Watch w{.mailbox = mb, .folder = f, .resource = resource, .client_state = client_state(resource)};
      states_[crypto::hmac_sha256(settings_.key, w.client_state)] = resource;
      w.reason = kNotYet;
      w.due = now;
      queue_.emplace(now, resource);
      watches_.emplace(resource, std::move(w));
    }
  }
  poke();
}

void ChangeNotifications::stop() {
  stopped_ = true;
  poke();
}

// Whether every folder of `mailbox` is watched, told to the listener when it changed; a mailbox
// live again after hints went unheard is synced to catch up.
void ChangeNotifications::report(const std::string& mailbox) {
  bool live = true;
  std::string reason;
  for (auto f : settings_.folders) {
    auto it = watches_.find(resource_of(mailbox, f));
    if (it == watches_.end()) return;  // no longer configured
    if (!it->second.active && it->second.reason == kNotYet) return;  // said once each folder was tried
    if (!it->second.active) {
      live = false;
      if (reason.empty()) reason = it->second.reason;
    }
  }
  auto [r, first] = reported_.try_emplace(mailbox, live);
  if (!first && r->second == live) return;
  r->second = live;
  if (!live) {
    missed_.insert(mailbox);
    log::warn("graph.mailbox.polling", {{"mailbox", mailbox}, {"reason", reason}});
  } else if (missed_.count(mailbox)) {
    log::info("graph.mailbox.notified", {{"mailbox", mailbox}});
  }
  if (!listener_) return;
  listener_->watching(mailbox, live, reason);
  if (live && missed_.erase(mailbox)) listener_->changed(mailbox);
}

Task<Result<http::Response, RemoteError>> ChangeNotifications::send(std::string method, std::string url,
                                                                   std::string body, std::string_view operation) {
  http::Request req;
  req.method = std::move(method);
  req.url = std::move(url);
  req.retry_safe = req.method == "GET" || req.method == "PATCH" || req.method == "DELETE";
  if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  req.body = std::move(body);
  auto resp = co_await remote::send_authorized(client_, tokens_, std::move(req), [&](const http::Response& r) {
    log::info("graph.token.rejected", {{"operation", operation}, {"request_id", r.request_id}});
  });
  if (!resp) co_return Fail{std::move(resp).error()};
  if (resp->status >= 200 && resp->status < 300) co_return std::move(*resp);
  co_return Fail{error_for_graph_answer(*resp)};
}

Task<Result<ChangeNotifications::Granted, RemoteError>> ChangeNotifications::subscribe(std::string resource,
                                                                                    std::string state) {
  const auto expires = SysClock::now() + settings_.lifetime;
  json::object body{{"changeType", "created,updated,deleted"},
                    {"notificationUrl", settings_.notification_url},
                    {"lifecycleNotificationUrl", settings_.notification_url},
                    {"resource", resource},
                    {"expirationDateTime", format_rfc3339_utc(std::chrono::time_point_cast<std::chrono::seconds>(expires))},
                    {"clientState", state},
                    {"latestSupportedTlsVersion", "v1_2"}};
  std::string url = settings_.graph_url + "/subscriptions";
  auto resp = co_await send("POST", std::move(url), json::serialize(body), "subscribe");
  if (!resp) co_return Fail{std::move(resp).error()};
  // The answer must be this subscription's: its resource, its URL, its clientState.
  auto o = detail::parse_object(resp->body);
  std::string why;
  if (!o) why = o.error();
  else if (str(*o, "id").empty()) why = "a subscription without an id";
  else if (normalized_resource(str(*o, "resource")) != normalized_resource(resource))
    why = "a subscription on " + str(*o, "resource") + ", not " + resource;
  else if (str(*o, "notificationUrl") != settings_.notification_url) why = "a subscription to another notificationUrl";
  else if (o->contains("clientState") && !http::constant_time_equal(str(*o, "clientState"), state))
    why = "a subscription with another clientState";
  std::optional<SysClock::time_point> granted;
  if (why.empty() && !(granted = parse_expiry(*o))) why = "a subscription without its expirationDateTime";
  if (!why.empty()) co_return Fail{not_its_own(*resp, "a subscription", why)};
  resp->connection.reuse();
  co_return Granted{str(*o, "id"), *granted};
}

Task<Result<Unit, RemoteError>> ChangeNotifications::probe(const std::string& mailbox) {
  const auto resource = resource_of(mailbox, model::FolderKind::contacts);
  auto made = co_await subscribe(resource, client_state(resource));
  if (!made) co_return Fail{std::move(made).error()};
  co_await unsubscribe(made->id);
  co_return Unit{};
}

Task<Result<SysClock::time_point, RemoteError>> ChangeNotifications::renew(const std::string& id,
                                                                           const std::string& resource) {
  const auto expires = SysClock::now() + settings_.lifetime;
  json::object body{
      {"expirationDateTime", format_rfc3339_utc(std::chrono::time_point_cast<std::chrono::seconds>(expires))}};
  std::string url = settings_.graph_url + "/subscriptions/" + id;
  auto resp = co_await send("PATCH", std::move(url), json::serialize(body), "renew");
  if (!resp) co_return Fail{std::move(resp).error()};
  auto o = detail::parse_object(resp->body);
  std::string why;
  if (!o) why = o.error();
  else if (str(*o, "id") != id) why = "the renewal of subscription " + str(*o, "id") + ", not " + id;
  else if (o->contains("resource") && normalized_resource(str(*o, "resource")) != normalized_resource(resource))
    why = "a renewal on " + str(*o, "resource") + ", not " + resource;
  std::optional<SysClock::time_point> granted;
  if (why.empty() && !(granted = parse_expiry(*o))) why = "a renewal without its expirationDateTime";
  if (!why.empty()) co_return Fail{not_its_own(*resp, "a renewal", why)};
  resp->connection.reuse();
  co_return *granted;
}

// The subscriptions a daemon before this one left: those of watched resources with this
// daemon's clientState are kept, the rest to this URL deleted.
Task<void> ChangeNotifications::adopt() {
  std::string url = settings_.graph_url + "/subscriptions";
  std::vector<std::string> stale;
  for (int page = 0; !url.empty() && page < 1000 && !stopped_; ++page) {
    auto resp = co_await send("GET", url, "", "list_subscriptions");
    url.clear();
    if (!resp) {
      log::warn("graph.subscriptions.list_failed",
                {{"code", resp.error().code}, {"kind", model::remote_error_kind_name(resp.error().kind)},
                 {"message", resp.error().message}});
      break;
    }
    auto o = detail::parse_object(resp->body);
    const auto* value = o ? o->if_contains("value") : nullptr;
    if (!value || !value->is_array()) {
      resp->connection.close();
      log::warn("graph.subscriptions.list_failed", {{"code", ""}, {"kind", "protocol"}, {"message", "a list without value"}});
      break;
    }
    resp->connection.reuse();
    const auto now = SysClock::now();
    for (const auto& v : value->as_array()) {
      if (!v.is_object()) continue;
      const auto& s = v.as_object();
      if (str(s, "notificationUrl") != settings_.notification_url) continue;  // not this daemon's
      const auto id = str(s, "id");
      if (id.empty()) continue;
      auto it = watches_.find(normalized_resource(str(s, "resource")));
      const auto expiry = parse_expiry(s);
      const bool state_ok = !s.contains("clientState") || s.at("clientState").is_null() ||
                            (it != watches_.end() && http::constant_time_equal(str(s, "clientState"), it->second.client_state));
      if (it == watches_.end() || !it->second.id.empty() || !state_ok || !expiry || *expiry < now + std::chrono::minutes(1)) {
        stale.push_back(id);
        continue;
      }
      auto& w = it->second;
      w.id = id;
      ids_[id] = w.resource;
      w.active = true;
      w.reason.clear();
      w.expires = *expiry;
      w.due = Clock::now() + std::chrono::duration_cast<Clock::duration>((*expiry - now) / 2);
      queue_.emplace(w.due, w.resource);
      ++stats_.adopted;
    }
    const auto next = str(*o, "@odata.nextLink");
    if (!next.empty() && next.rfind(settings_.graph_url + "/", 0) == 0) url = next;
  }
  for (auto& id : stale) to_delete_.push_back(std::move(id));
  std::set<std::string> mailboxes;
  for (const auto& [resource, w] : watches_)
    if (w.active) mailboxes.insert(w.mailbox);
  for (const auto& mb : mailboxes) report(mb);
}

Task<void> ChangeNotifications::unsubscribe(std::string id) {
  std::string url = settings_.graph_url + "/subscriptions/" + id;
  auto r = co_await send("DELETE", std::move(url), "", "unsubscribe");
  if (r) r->connection.reuse();
  if (r || r.error().kind == RemoteErrorKind::item_not_found) {
    ++stats_.deleted;
    log::info("graph.subscription.deleted", {{"subscription_id", id}});
  }
}

// work() for a watch marked busy, which it is no longer after, and queued for its next step.
Task<void> ChangeNotifications::step(std::string resource) {
  co_await work(resource);
  if (auto w = watches_.find(resource); w != watches_.end()) {
    w->second.busy = false;
    queue_.emplace(w->second.due, resource);
  }
}

// One step for one watch: subscribe, or renew; then when its next step is due.
Task<void> ChangeNotifications::work(std::string resource) {
  auto it = watches_.find(resource);
  if (it == watches_.end()) co_return;
  const std::string id = it->second.id;
  const std::string mailbox = it->second.mailbox;
  const auto folder = it->second.folder;
  Result<SysClock::time_point, RemoteError> outcome = Fail{RemoteError{RemoteErrorKind::protocol, "", "", {}}};
  std::string made;  // the new subscription's id
  if (id.empty()) {
    const std::string state = it->second.client_state;
    auto r = co_await subscribe(resource, state);
    if (r) {
      made = r->id;
      outcome = r->expires;
    } else {
      outcome = Fail{std::move(r).error()};
    }
  } else {
    outcome = co_await renew(id, resource);
  }
  it = watches_.find(resource);  // looked up again: a reload may have removed it meanwhile
  if (it == watches_.end()) {
    if (!made.empty()) to_delete_.push_back(made);
    co_return;
  }
  if (!made.empty()) {
    if (!it->second.id.empty()) ids_.erase(it->second.id);
    it->second.id = made;
    ids_[made] = resource;
  }
  auto& w = it->second;
  const auto now = Clock::now();
  const auto sys_now = SysClock::now();
  if (!id.empty() && w.id != id) co_return;  // removed by Graph while the renewal was out: subscribed anew next
  if (outcome) {
    const auto granted = std::chrono::duration_cast<Clock::duration>(*outcome - sys_now);
    w.expires = *outcome;
    w.active = true;
    w.reason.clear();
    w.due = now + std::max<Clock::duration>(granted * 2 / 3, std::chrono::seconds(1));
    if (id.empty()) {
      ++stats_.created;
      log::debug("graph.subscription.created",
                 {{"mailbox", mailbox}, {"folder", model::folder_name(folder)}, {"subscription_id", w.id}});
    } else {
      ++stats_.renewed;
      log::debug("graph.subscription.renewed", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)}});
    }
  } else {
    const auto& e = outcome.error();
    ++stats_.failed;
    const std::string code = e.code.empty() ? std::string(model::remote_error_kind_name(e.kind)) : e.code;
    auto wait = e.retry_after > std::chrono::milliseconds(0) ? e.retry_after : settings_.retry;
    if (!id.empty() && (e.kind == RemoteErrorKind::item_not_found || sys_now + wait >= w.expires)) {
      // Graph no longer has it, or it would expire before the next try: subscribed anew now.
      ++stats_.lost;
      log::info("graph.subscription.lost", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)},
                                            {"reason", e.kind == RemoteErrorKind::item_not_found ? "not_found" : "expired"}});
      ids_.erase(w.id);
      w.id.clear();
      w.active = false;
      w.reason = code;
      wait = e.kind == RemoteErrorKind::item_not_found ? std::chrono::milliseconds(0) : wait;
    } else if (id.empty()) {
      w.active = false;
      w.reason = code;
      log::warn("graph.subscription.failed", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)},
                                              {"operation", "subscribe"}, {"code", code},
                                              {"message", e.message}, {"retry_seconds", std::chrono::duration_cast<std::chrono::seconds>(wait).count()}});
    } else {
      // The subscription still stands until it expires; the renewal tries again before then.
      wait = std::min<std::chrono::milliseconds>(
          wait, std::chrono::duration_cast<std::chrono::milliseconds>(w.expires - sys_now) / 2);
      log::warn("graph.subscription.failed", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)},
                                              {"operation", "renew"}, {"code", code},
                                              {"message", e.message}, {"retry_seconds", std::chrono::duration_cast<std::chrono::seconds>(wait).count()}});
    }
    w.due = now + wait;
  }
  report(mailbox);
}

Task<void> ChangeNotifications::run(model::HintListener& listener) {
  auto ex = co_await net::this_coro::executor;
  wake_ = std::make_unique<Wake>(ex);
  listener_ = &listener;
  co_await adopt();
  bool announced = false;
  auto done = [this](std::exception_ptr e) {
    --in_flight_;
    poke();
    if (e) std::rethrow_exception(e);
  };
  while (!stopped_) {
    while (in_flight_ < settings_.max_in_flight && !to_delete_.empty()) {
      std::string id = std::move(to_delete_.back());
      to_delete_.pop_back();
      ++in_flight_;
      net::co_spawn(ex, unsubscribe(std::move(id)), done);
    }
    const auto now = Clock::now();
    auto next = now + std::chrono::hours(1);
    while (!queue_.empty()) {
      auto [due, resource] = *queue_.begin();
      auto it = watches_.find(resource);
      if (it == watches_.end() || it->second.due != due || it->second.busy) {
        queue_.erase(queue_.begin());
        continue;
      }
      if (due > now) {
        next = due;
        break;
      }
      if (in_flight_ >= settings_.max_in_flight) break;  // a finished step wakes the loop
      queue_.erase(queue_.begin());
      it->second.busy = true;
      ++in_flight_;
      net::co_spawn(ex, step(std::move(resource)), done);
    }
    if (!announced && in_flight_ == 0 && std::all_of(watches_.begin(), watches_.end(), [](const auto& w) {
          return w.second.active || w.second.reason != kNotYet;
        })) {
      announced = true;
      const auto active = std::count_if(watches_.begin(), watches_.end(), [](const auto& w) { return w.second.active; });
      log::info("graph.notifications.ready", {{"subscriptions", active},
                                              {"failed", static_cast<std::int64_t>(watches_.size()) - active},
                                              {"adopted", stats_.adopted},
                                              {"url", settings_.notification_url}});
    }
    wake_->timer.expires_at(next);
    co_await wake_->timer.async_wait(kTuple);
  }
  while (in_flight_ > 0) {
    wake_->timer.expires_after(std::chrono::milliseconds(20));
    co_await wake_->timer.async_wait(kTuple);
  }
  listener_ = nullptr;
}

void ChangeNotifications::lifecycle(Watch& w, std::string_view event) {
  ++stats_.lifecycle;
  log::info("graph.notification.lifecycle",
            {{"mailbox", w.mailbox}, {"folder", model::folder_name(w.folder)}, {"lifecycle_event", event}});
  if (event == "reauthorizationRequired") {
    w.due = Clock::now();
  } else if (event == "subscriptionRemoved") {
    ++stats_.lost;
    ids_.erase(w.id);
    w.id.clear();
    w.active = false;
    w.reason = "subscriptionRemoved";
    w.due = Clock::now();
    report(w.mailbox);
  } else if (event == "missed") {
    if (listener_) listener_->changed(w.mailbox);
    return;
  } else {
    return;
  }
  queue_.emplace(w.due, w.resource);
  poke();
}

http::Response ChangeNotifications::receive(const http::Request& request) {
  if (request.method != "POST")
    return plain(405, R"({"error":"method_not_allowed","message":"Graph's notifications come by POST"})");
  auto target = http::parse_request_target(request.url);
  if (!target)
    return plain(400, R"({"error":"invalid_target","message":"not a valid request target"})");
  if (auto v = target->query.find("validationToken"); v != target->query.end()) {
    if (v->second.empty() || v->second.size() > kMaxValidationToken)
      return plain(400, R"({"error":"invalid_validation_token","message":"validationToken is empty or too long"})");
    ++stats_.validations;
    log::debug("graph.validation.answered", {});
    return plain(200, v->second, "text/plain; charset=utf-8");
  }
  json::error_code ec;
  auto parsed = json::parse(request.body, ec);
  const json::array* value = nullptr;
  if (!ec && parsed.is_object())
    if (auto* v = parsed.as_object().if_contains("value"); v && v->is_array()) value = &v->as_array();
  if (!value)
    return plain(400, R"js({"error":"invalid_notification","message":"the body is not a batch of notifications ({\"value\": [...]})"})js");

  std::set<std::string> due;
  std::string refused_reason, refused_id;
  std::size_t refused = 0;
  auto refuse = [&](std::string_view reason, const std::string& id) {
    ++refused;
    ++stats_.refused;
    if (refused_reason.empty()) {
      refused_reason = reason;
      refused_id = id;
    }
  };
  for (const auto& entry : *value) {
    if (!entry.is_object()) {
      refuse("not_an_object", "");
      continue;
    }
    const auto& n = entry.as_object();
    const auto id = str(n, "subscriptionId");
    auto* w = watch_by_id(id);
    if (!w) {
      // Graph may notify a new subscription before its POST's answer is read here: one whose
      // clientState is a watch's still being subscribed is that watch's (the clientState is
      // secret and names its resource).
      // (Looked up by a MAC of it, so that the map's comparisons leak nothing of a clientState.)
      auto s = states_.find(crypto::hmac_sha256(settings_.key, str(n, "clientState")));
      auto pending = s == states_.end() ? watches_.end() : watches_.find(s->second);
      if (pending == watches_.end() || !pending->second.busy || !pending->second.id.empty() || id.empty() ||
          n.contains("lifecycleEvent")) {
        refuse("unknown_subscription", id);
        continue;
      }
      w = &pending->second;
    }
    if (!http::constant_time_equal(str(n, "clientState"), w->client_state)) {
      refuse("client_state", id);
      continue;
    }
    if (auto event = str(n, "lifecycleEvent"); !event.empty()) {
      lifecycle(*w, event);
      continue;
    }
    // The changed item's resource ("Users/{id}/Contacts/{item}") must be of the watched collection.
    if (auto r = lower(str(n, "resource")); !r.empty() && r.find("/" + std::string(collection_of(w->folder)) + "/") == std::string::npos &&
                                            !r.ends_with("/" + std::string(collection_of(w->folder)))) {
      refuse("resource", id);
      continue;
    }
    ++stats_.notifications;
    due.insert(w->mailbox);
  }
  if (refused > 0)
    log::warn("graph.notification.refused",
              {{"reason", refused_reason}, {"subscription_id", refused_id}, {"count", refused}});
  if (listener_)
    for (const auto& mb : due) listener_->changed(mb);
  return plain(202, "");
}

}  // namespace exsync::graph
