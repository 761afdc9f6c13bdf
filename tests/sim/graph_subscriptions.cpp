#include "graph_subscriptions.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <cstdio>
#include <random>

#include "exsync/core/mailbox_address.hpp"
#include "exsync/core/time_format.hpp"
#include "graph_endpoint.hpp"
#include "graph_wire.hpp"

namespace exsync::sim {
namespace {

namespace json = boost::json;
namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;
using SysClock = std::chrono::system_clock;
constexpr auto kTuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// Graph's own spelling of a time: seven fractional digits and Z.
std::string graph_time(SysClock::time_point t) {
  auto s = format_rfc3339_utc(std::chrono::floor<std::chrono::seconds>(t));
  const auto frac = std::chrono::duration_cast<std::chrono::microseconds>(t - std::chrono::floor<std::chrono::seconds>(t));
  char buf[32];
  std::snprintf(buf, sizeof buf, ".%06lld0Z", static_cast<long long>(frac.count() % 1000000));
  return s.substr(0, s.size() - 1) + buf;
}

std::string guid(std::uint64_t n) {
  static std::mt19937_64 rng(0x5eed5eedULL);
  char buf[40];
  const auto r = rng();
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-a%03llx-%012llx", static_cast<unsigned long long>(r >> 32),
                static_cast<unsigned long long>((r >> 16) & 0xffff), static_cast<unsigned long long>(r & 0xfff),
                static_cast<unsigned long long>(n >> 48 & 0xfff), static_cast<unsigned long long>(n & 0xffffffffffffULL));
  return buf;
}

struct Posted {
  int status = 0;
  std::string content_type, body;
};

// A POST over plain HTTP to http://host:port/target, as Graph's notification sender makes it.
Task<std::optional<Posted>> post(std::string url, std::string content_type, std::string body,
                                 std::chrono::milliseconds timeout) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) co_return std::nullopt;
  const auto slash = url.find('/', kScheme.size());
  const std::string authority = url.substr(kScheme.size(), slash - kScheme.size());
  const std::string target = slash == std::string::npos ? "/" : url.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) co_return std::nullopt;
  auto ex = co_await boost::asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(authority.substr(0, colon), authority.substr(colon + 1), kTuple);
  if (rec) co_return std::nullopt;
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);
  auto [cec, ep] = co_await stream.async_connect(endpoints, kTuple);
  if (cec) co_return std::nullopt;
  beast::http::request<beast::http::string_body> req{beast::http::verb::post, target, 11};
  req.set(beast::http::field::host, authority);
  req.set(beast::http::field::content_type, content_type);
  req.set(beast::http::field::user_agent, "Microsoft-Graph-ChangeNotifications/1.0 (exsync-sim)");
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, wn] = co_await beast::http::async_write(stream, req, kTuple);
  if (wec) co_return std::nullopt;
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> resp;
  auto [rdec, rn] = co_await beast::http::async_read(stream, buffer, resp, kTuple);
  if (rdec) co_return std::nullopt;
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return Posted{static_cast<int>(resp.result_int()), std::string(resp[beast::http::field::content_type]),
                   std::move(resp.body())};
}

// "users/{user}/contacts" (optionally with a leading slash, any case): the user and whether it
// is the calendar's events; nullopt for a resource this simulator does not notify.
std::optional<std::pair<std::string, bool>> parse_resource(std::string_view r) {
  if (!r.empty() && r.front() == '/') r.remove_prefix(1);
  std::string lower(r);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower.rfind("users/", 0) != 0) return std::nullopt;
  const auto slash = lower.find('/', 6);
  if (slash == std::string::npos) return std::nullopt;
  const auto rest = lower.substr(slash + 1);
  if (rest != "contacts" && rest != "events") return std::nullopt;
  return std::make_pair(normalize_mailbox_address(lower.substr(6, slash - 6)), rest == "events");
}

}  // namespace

std::optional<http::Response> GraphSubscriptions::refuse_token(const http::Request& req) {
  std::string_view auth = req.header("Authorization");
  const std::string token(auth.size() > 7 && auth.substr(0, 7) == "Bearer " ? auth.substr(7) : std::string_view());
  if (token.empty() || !tenant_.access_token_valid(token, Tenant::Audience::graph))
    return graph_error(401, "InvalidAuthenticationToken",
                       token.empty() ? "Access token is empty." : "Access token has expired or is not yet valid.");
  if (!tenant_.access_token_is_app(token))
    return graph_error(403, "ExtensionError",
                       "Operation: Create; Exception: [Status Code: Forbidden; Reason: Change notifications are not "
                       "supported for delegated access to shared or delegated folders.]");
  return std::nullopt;
}

json::object GraphSubscriptions::to_json(const Sub& s) const {
  return json::object{{"@odata.context", base_ + std::string(GraphEndpoint::kRoot) + "/$metadata#subscriptions/$entity"},
                      {"id", s.id},
                      {"resource", s.resource},
                      {"applicationId", tenant_.client_id()},
                      {"changeType", s.change_type},
                      {"clientState", s.client_state.empty() ? json::value(nullptr) : json::value(s.client_state)},
                      {"notificationUrl", s.notification_url},
                      {"notificationQueryOptions", nullptr},
                      {"lifecycleNotificationUrl", s.lifecycle_url.empty() ? json::value(nullptr) : json::value(s.lifecycle_url)},
                      {"expirationDateTime", graph_time(s.expires)},
                      {"creatorId", "a4c7bd34-4f3b-46b7-a25d-b63c1e2a2842"},
                      {"includeResourceData", nullptr},
                      {"latestSupportedTlsVersion", "v1_2"},
                      {"encryptionCertificate", nullptr},
                      {"encryptionCertificateId", nullptr},
                      {"notificationUrlAppId", nullptr}};
}

// The validation handshake for a public URL, through the reverse proxy to `deliver_to`.
Task<bool> GraphSubscriptions::validate(const std::string& url) {
  (void)url;  // every public URL lands at deliver_to
  ++stats_.validations;
  const std::string token = "Validation: Testing client application reachability for subscription Request-Id: " +
                            guid(next_id_ + 1000000);
  auto r = co_await post(policy_.deliver_to + "?validationToken=" + http::form_encode(token), "text/plain; charset=utf-8",
                         "", std::chrono::seconds(10));
  const bool ok = r && r->status == 200 && r->content_type.rfind("text/plain", 0) == 0 && r->body == token;
  if (!ok) ++stats_.validation_failures;
  co_return ok;
}

Task<http::Response> GraphSubscriptions::handle(http::Request req) {
  auto target = http::parse_request_target(req.url);
  if (!target || target->segments.size() < 3 || target->segments.size() > 4)
    co_return graph_error(400, "BadRequest", "Invalid request.");
  if (auto refused = refuse_token(req)) {
    ++stats_.refused;
    co_return std::move(*refused);
  }
  const auto now = SysClock::now();
  const std::string id = target->segments.size() == 4 ? target->segments[3] : "";
  auto expired = [&](const Sub& s) { return s.expires <= now; };
  auto lifetime_error = [&](const json::object& body) -> std::optional<http::Response> {
    auto t = parse_xs_datetime(str(body, "expirationDateTime"));
    if (!t) return graph_error(400, "InvalidRequest", "expirationDateTime is required and must be a date and time.");
    if (SysClock::time_point(*t) <= now)
      return graph_error(400, "InvalidRequest", "Subscription expiration must be in the future.");
    if (SysClock::time_point(*t) > now + std::chrono::minutes(4230) + std::chrono::seconds(30))
      return graph_error(400, "InvalidRequest", "Subscription expiration can only be 4230 minutes in the future.");
    return std::nullopt;
  };
  auto granted = [&](const json::object& body) {
    return std::min(SysClock::time_point(*parse_xs_datetime(str(body, "expirationDateTime"))), now + policy_.max_lifetime);
  };
  json::object body;
  if (!req.body.empty()) {
    json::error_code ec;
    auto parsed = json::parse(req.body, ec);
    if (ec || !parsed.is_object()) co_return graph_error(400, "BadRequest", "Unable to read JSON request payload.");
    body = std::move(parsed.as_object());
  }

  if (id.empty() && req.method == "GET") {
    std::size_t skip = 0;
    if (auto it = target->query.find("$skiptoken"); it != target->query.end()) skip = std::strtoull(it->second.c_str(), nullptr, 10);
    json::array value;
    std::size_t i = 0;
    for (const auto& [sid, s] : subs_) {
      if (expired(s)) continue;
      if (i++ < skip) continue;
      if (value.size() == 100) break;
      value.push_back(to_json(s));
    }
    json::object out{{"@odata.context", base_ + std::string(GraphEndpoint::kRoot) + "/$metadata#subscriptions"},
                     {"value", value}};
    if (i > skip + 100 || (value.size() == 100 && i > skip + value.size()))
      out["@odata.nextLink"] = base_ + std::string(GraphEndpoint::kRoot) + "/subscriptions?$skiptoken=" + std::to_string(skip + 100);
    co_return json_response(200, out);
  }

  if (id.empty() && req.method == "POST") {
    auto bad = [&](std::string_view message) {
      ++stats_.refused;
      return graph_error(400, "InvalidRequest", message);
    };
    const auto change_type = str(body, "changeType");
    if (change_type.empty()) co_return bad("changeType is required.");
    for (std::size_t p = 0; p <= change_type.size();) {
      const auto comma = std::min(change_type.find(',', p), change_type.size());
      const auto t = change_type.substr(p, comma - p);
      if (t != "created" && t != "updated" && t != "deleted") co_return bad("Invalid changeType: " + t);
      p = comma + 1;
    }
    const auto url = str(body, "notificationUrl");
    if (url.rfind("https://", 0) != 0) co_return bad("The Notification Url must use https.");
    const auto lifecycle_url = str(body, "lifecycleNotificationUrl");
    if (!lifecycle_url.empty() && lifecycle_url.rfind("https://", 0) != 0)
      co_return bad("The Lifecycle Notification Url must use https.");
    if (str(body, "clientState").size() > 128) co_return bad("clientState must be at most 128 characters.");
    auto resource = parse_resource(str(body, "resource"));
    if (!resource) co_return bad("Resource '" + str(body, "resource") + "' is not supported.");
    if (auto e = lifetime_error(body)) {
      ++stats_.refused;
      co_return std::move(*e);
    }
    if (!tenant_.mailbox(resource->first)) {
      ++stats_.refused;
      co_return graph_error(404, "ResourceNotFound", "The requested user '" + resource->first + "' is invalid.");
    }
    if (tenant_.graph_rbac_scope && !tenant_.graph_rbac_scope->contains(resource->first)) {
      ++stats_.refused;
      co_return graph_error(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied.]");
    }
    const auto live = std::count_if(subs_.begin(), subs_.end(),
                                    [&](const auto& e) { return e.second.mailbox == resource->first && !expired(e.second); });
    if (live >= policy_.max_per_mailbox) {
      ++stats_.refused;
      co_return graph_error(403, "ExtensionError",
                            "Operation: Create; Exception: [Status Code: Forbidden; Reason: The number of subscriptions "
                            "for this mailbox has reached its limit.]");
    }
    if (!co_await validate(url) || (!lifecycle_url.empty() && !co_await validate(lifecycle_url))) {
      ++stats_.refused;
      co_return graph_error(400, "InvalidRequest",
                            "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                            "validation request.");
    }
    Sub s;
    s.id = guid(next_id_++);
    s.resource = str(body, "resource");
    s.mailbox = resource->first;
    s.events = resource->second;
    s.change_type = change_type;
    s.notification_url = url;
    s.lifecycle_url = lifecycle_url;
    s.client_state = str(body, "clientState");
    s.expires = granted(body);
    if (Mailbox* mb = tenant_.mailbox(s.mailbox)) s.seen = s.events ? mb->calendar.seq : mb->seq;
    ++stats_.created;
    if (policy_.notify_before_answer) {
      // A change right after the subscription stood, notified before the client read its id.
      const std::string kind = s.events ? "Events" : "Contacts";
      json::object n{{"subscriptionId", s.id}, {"subscriptionExpirationDateTime", graph_time(s.expires)},
                     {"clientState", s.client_state}, {"changeType", "updated"},
                     {"resource", "Users/" + s.mailbox + "/" + kind + "/early"}, {"tenantId", tenant_.tenant_id()}};
      const std::string early = "{\"value\":[" + json::serialize(n) + "]}";
      auto r = co_await post(policy_.deliver_to, "application/json; charset=utf-8", early, std::chrono::seconds(3));
      if (r && r->status >= 200 && r->status < 300) ++stats_.notifications;
      else ++stats_.delivery_failures;
    }
    auto out = to_json(s);
    subs_.emplace(s.id, std::move(s));
    co_return json_response(201, out);
  }

  auto it = subs_.find(id);
  if (id.empty() || it == subs_.end() || expired(it->second)) {
    if (id.empty()) co_return graph_error(405, "MethodNotAllowed", "The method is not allowed.");
    co_return graph_error(404, "ResourceNotFound", "The object was not found.");
  }
  if (req.method == "GET") co_return json_response(200, to_json(it->second));
  if (req.method == "PATCH") {
    if (auto e = lifetime_error(body)) co_return std::move(*e);
    it->second.expires = granted(body);
    ++stats_.renewed;
    co_return json_response(200, to_json(it->second));
  }
  if (req.method == "DELETE") {
    subs_.erase(it);
    ++stats_.deleted;
    co_return http::Response{204, {}, ""};
  }
  co_return graph_error(405, "MethodNotAllowed", "The method is not allowed.");
}

// The changes of `s`'s folder since it was last notified, queued as notifications.
void GraphSubscriptions::collect(Sub& s) {
  Mailbox* mb = tenant_.mailbox(s.mailbox);
  if (!mb) return;
  const auto& by_seq = s.events ? mb->calendar.by_seq : mb->by_seq;
  const auto seq = s.events ? mb->calendar.seq : mb->seq;
  if (seq <= s.seen) return;
  for (auto it = by_seq.upper_bound(s.seen); it != by_seq.end(); ++it) {
    std::string type = "updated";
    if (s.events) {
      auto e = mb->calendar.events.find(it->second);
      if (e == mb->calendar.events.end()) continue;
      type = e->second.deleted ? "deleted" : e->second.created_seq == it->first ? "created" : "updated";
    } else {
      auto c = mb->contacts.find(it->second);
      if (c == mb->contacts.end()) continue;
      type = c->second.deleted ? "deleted" : c->second.created_seq == it->first ? "created" : "updated";
    }
    if (s.change_type.find(type) == std::string::npos) continue;
    const std::string item = graph_id(it->second);
    const std::string kind = s.events ? "Events" : "Contacts";
    const std::string user = "Users/" + mb->guid_tag + "@" + tenant_.tenant_id();
    json::object n{{"id", guid(next_id_ + 2000000)},
                   {"subscriptionId", s.id},
                   {"subscriptionExpirationDateTime", graph_time(s.expires)},
                   {"clientState", s.client_state.empty() ? json::value(nullptr) : json::value(s.client_state)},
                   {"changeType", type},
                   {"resource", user + "/" + kind + "/" + item},
                   {"tenantId", tenant_.tenant_id()},
                   {"resourceData", json::object{{"@odata.type", s.events ? "#Microsoft.Graph.Event" : "#Microsoft.Graph.Contact"},
                                                 {"@odata.id", user + "/" + kind + "/" + item},
                                                 {"id", item}}}};
    pending_.push_back({json::serialize(n), false});
  }
  s.seen = seq;
}

void GraphSubscriptions::queue_lifecycle(const Sub& s, std::string_view event) {
  json::object n{{"subscriptionId", s.id},
                 {"subscriptionExpirationDateTime", graph_time(s.expires)},
                 {"tenantId", tenant_.tenant_id()},
                 {"clientState", s.client_state.empty() ? json::value(nullptr) : json::value(s.client_state)},
                 {"lifecycleEvent", event}};
  pending_.push_back({json::serialize(n), true});
}

Task<void> GraphSubscriptions::run() {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    timer.expires_after(policy_.tick);
    co_await timer.async_wait(kTuple);
    if (policy_.paused) continue;
    const auto now = SysClock::now();
    for (auto it = subs_.begin(); it != subs_.end();) {
      if (it->second.expires <= now) {
        ++stats_.expired;
        it = subs_.erase(it);
        continue;
      }
      collect(it->second);
      ++it;
    }
    if (pending_.empty() || policy_.deliver_to.empty()) continue;
    std::size_t n = std::min<std::size_t>(pending_.size(), 100);
    std::string body = "{\"value\":[";
    std::uint64_t lifecycle = 0;
    for (std::size_t i = 0; i < n; ++i) {
      body += (i ? "," : "") + pending_[i].body;
      lifecycle += pending_[i].lifecycle ? 1 : 0;
    }
    body += "]}";
    ++stats_.deliveries;
    auto r = co_await post(policy_.deliver_to, "application/json; charset=utf-8", std::move(body), std::chrono::seconds(3));
    if (r && r->status >= 200 && r->status < 300) {
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      stats_.notifications += n - lifecycle;
      stats_.lifecycle += lifecycle;
    } else {
      ++stats_.delivery_failures;
      timer.expires_after(std::chrono::seconds(1));  // Graph tries again later
      co_await timer.async_wait(kTuple);
    }
  }
}

http::Response GraphSubscriptions::control(const http::Request& req, const std::vector<std::string>& seg) {
  auto reply = [](int status, const json::value& v) {
    return http::Response{status, {{"Content-Type", "application/json"}}, json::serialize(v) + "\n"};
  };
  json::error_code ec;
  auto parsed = req.body.empty() ? json::value(json::object{}) : json::parse(req.body, ec);
  if (ec || !parsed.is_object()) return reply(400, json::object{{"error", "the body is not a JSON object"}});
  const auto& body = parsed.as_object();
  // seg: sim, graph, subscriptions[, action]
  if (seg.size() == 3 && req.method == "GET") {
    json::array list;
    for (const auto& [id, s] : subs_)
      list.push_back(json::object{{"id", id}, {"resource", s.resource}, {"mailbox", s.mailbox},
                                  {"expires", graph_time(s.expires)}, {"client_state", s.client_state}});
    return reply(200, json::object{{"subscriptions", list},
                                   {"stats", json::object{{"created", stats_.created}, {"renewed", stats_.renewed},
                                                          {"deleted", stats_.deleted}, {"expired", stats_.expired},
                                                          {"validations", stats_.validations},
                                                          {"validation_failures", stats_.validation_failures},
                                                          {"notifications", stats_.notifications},
                                                          {"lifecycle", stats_.lifecycle},
                                                          {"deliveries", stats_.deliveries},
                                                          {"delivery_failures", stats_.delivery_failures},
                                                          {"refused", stats_.refused},
                                                          {"pending", pending_.size()},
                                                          {"active", subs_.size()}}}});
  }
  if (seg.size() == 3 && req.method == "PUT") {
    if (auto* v = body.if_contains("deliver_to"); v && v->is_string()) policy_.deliver_to = std::string(v->as_string());
    if (auto* v = body.if_contains("max_lifetime_seconds"); v && v->is_int64())
      policy_.max_lifetime = std::chrono::seconds(std::max<std::int64_t>(1, v->as_int64()));
    if (auto* v = body.if_contains("paused"); v && v->is_bool()) policy_.paused = v->as_bool();
    if (auto* v = body.if_contains("notify_before_answer"); v && v->is_bool()) policy_.notify_before_answer = v->as_bool();
    if (auto* v = body.if_contains("tick_ms"); v && v->is_int64())
      policy_.tick = std::chrono::milliseconds(std::clamp<std::int64_t>(v->as_int64(), 1, 10000));
    return reply(200, json::object{{"deliver_to", policy_.deliver_to},
                                   {"max_lifetime_seconds", policy_.max_lifetime.count()},
                                   {"paused", policy_.paused}});
  }
  if (seg.size() == 4 && seg[3] == "lifecycle" && req.method == "POST") {
    const auto event = str(body, "event");
    if (event != "reauthorizationRequired" && event != "subscriptionRemoved" && event != "missed")
      return reply(400, json::object{{"error", "event is one of reauthorizationRequired, subscriptionRemoved, missed"}});
    const auto mailbox = normalize_mailbox_address(str(body, "mailbox"));
    std::uint64_t n = 0;
    for (auto it = subs_.begin(); it != subs_.end();) {
      auto& s = it->second;
      if (!mailbox.empty() && s.mailbox != mailbox) {
        ++it;
        continue;
      }
      ++n;
      if (event == "missed") {
        // The changes meanwhile are never notified.
        if (Mailbox* mb = tenant_.mailbox(s.mailbox)) s.seen = s.events ? mb->calendar.seq : mb->seq;
      }
      if (!s.lifecycle_url.empty()) queue_lifecycle(s, event);
      it = event == "subscriptionRemoved" ? subs_.erase(it) : std::next(it);
    }
    return reply(200, json::object{{"subscriptions", n}});
  }
  if (seg.size() == 4 && seg[3] == "forget" && req.method == "POST") {
    const auto n = subs_.size();
    subs_.clear();
    return reply(200, json::object{{"forgotten", n}});
  }
  return reply(400, json::object{{"error", "GET|PUT /sim/graph/subscriptions, POST /sim/graph/subscriptions/lifecycle "
                                           "{\"event\", \"mailbox\"?}, POST /sim/graph/subscriptions/forget"}});
}

}  // namespace exsync::sim
