#include "exsync/ews/streaming.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <boost/algorithm/string/predicate.hpp>

#include "exsync/ews/notifications.hpp"
#include "exsync/ews/responses.hpp"
#include "exsync/log/log.hpp"
#include "exsync/remote/authorized_send.hpp"

namespace exsync::ews {
namespace {

using model::RemoteError;
using model::RemoteErrorKind;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::string_view kCookie = "X-BackEndOverrideCookie";

// "X-BackEndOverrideCookie=SN2PR04MB...~1942354948; path=/" as sent back: its name=value.
std::string affinity_cookie(const http::Response& r) {
  for (const auto& h : r.headers) {
    if (!boost::iequals(h.name, "Set-Cookie")) continue;
    std::string_view v = h.value;
    if (v.substr(0, kCookie.size()) != kCookie || v.size() <= kCookie.size() || v[kCookie.size()] != '=') continue;
    return std::string(v.substr(0, v.find(';')));
  }
  return {};
}

}  // namespace

struct StreamingHints::Wake {
  explicit Wake(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
};

struct StreamingHints::Group {
  Group(const net::any_io_executor& ex, std::vector<std::string> m) : members(std::move(m)), timer(ex) {}
  std::vector<std::string> members;  // in address order; the first is the anchor
  std::string cookie;                // "X-BackEndOverrideCookie=..." once the anchor's Subscribe set it
  std::shared_ptr<http::StreamStop> stop = std::make_shared<http::StreamStop>();
  net::steady_timer timer;
  bool done = false;
  const std::string& anchor() const { return members.front(); }

  Task<void> pause(std::chrono::milliseconds d) {
    timer.expires_after(d);
    co_await timer.async_wait(kTuple);
  }
  void end() {
    done = true;
    stop->stop();
    timer.cancel();
  }
};

StreamingHints::StreamingHints(http::Client& client, auth::TokenSource& tokens, StreamingSettings settings)
    : client_(client), tokens_(tokens), settings_(std::move(settings)) {
  settings_.connection_minutes = std::clamp(settings_.connection_minutes, 1, kMaxConnectionMinutes);
  settings_.per_connection = std::clamp<std::size_t>(settings_.per_connection, 1, kMaxSubscriptionsPerConnection);
}

StreamingHints::~StreamingHints() = default;

void StreamingHints::set_mailboxes(const std::vector<std::string>& mailboxes) {
  auto sorted = mailboxes;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  if (sorted == mailboxes_) return;
  mailboxes_ = std::move(sorted);
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    it = std::binary_search(mailboxes_.begin(), mailboxes_.end(), it->first) ? std::next(it) : subscriptions_.erase(it);
  }
  regroup_ = true;
  if (wake_) wake_->timer.cancel();
}

void StreamingHints::stop() {
  stopped_ = true;
  for (auto& g : groups_) g->end();
  if (wake_) wake_->timer.cancel();
}

std::size_t StreamingHints::live() const {
  return static_cast<std::size_t>(
      std::count_if(subscriptions_.begin(), subscriptions_.end(), [](const auto& s) { return s.second.live; }));
}

void StreamingHints::set_live(const std::string& mailbox, bool live, std::string_view reason,
                              model::HintListener& listener) {
  auto& s = subscriptions_[mailbox];
  if (s.live == live && s.reported) return;
  s.reported = true;
  s.live = live;
  if (!live) {
    s.missed = true;  // whatever happens until it is live again goes unheard
    log::warn("stream.mailbox.polling", {{"mailbox", mailbox}, {"reason", reason}});
  } else if (s.missed) {
    log::info("stream.mailbox.streaming", {{"mailbox", mailbox}});
  }
  listener.watching(mailbox, live, reason);
  if (live && s.missed) {
    s.missed = false;
    ++stats_.notifications;
    listener.changed(mailbox);  // a sync catches up on what was not heard
  }
}

Task<void> StreamingHints::run(model::HintListener& listener) {
  auto ex = co_await net::this_coro::executor;
  wake_ = std::make_unique<Wake>(ex);
  while (!stopped_) {
    regroup_ = false;
    groups_.clear();
    // What the ended groups left of mailboxes no longer configured.
    for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
      it = std::binary_search(mailboxes_.begin(), mailboxes_.end(), it->first) ? std::next(it) : subscriptions_.erase(it);
    }
    for (std::size_t i = 0; i < mailboxes_.size(); i += settings_.per_connection) {
      const auto end = std::min(mailboxes_.size(), i + settings_.per_connection);
      groups_.push_back(std::make_shared<Group>(
          ex, std::vector<std::string>(mailboxes_.begin() + static_cast<std::ptrdiff_t>(i),
                                       mailboxes_.begin() + static_cast<std::ptrdiff_t>(end))));
    }
    const int limit = settings_.max_connections > 0 ? settings_.max_connections
                      : settings_.addressing == Addressing::delegate ? kHangingConnectionLimit
                                                                     : 0;
    int running = 0;
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      if (limit > 0 && static_cast<int>(i) >= limit) {
        for (const auto& m : groups_[i]->members) set_live(m, false, "connection_limit", listener);
        continue;
      }
      ++running;
      net::co_spawn(ex, run_group(groups_[i], listener), [this, &running](std::exception_ptr e) {
        --running;
        if (wake_) wake_->timer.cancel();
        if (e) std::rethrow_exception(e);  // a bug, not an outside failure
      });
    }
    log::info("stream.started", {{"mailboxes", mailboxes_.size()}, {"connections", running},
                                 {"polling_by_limit", mailboxes_.size() - std::min(mailboxes_.size(), static_cast<std::size_t>(running) * settings_.per_connection)}});
    while (!stopped_ && !regroup_) {
      wake_->timer.expires_after(std::chrono::hours(1));
      co_await wake_->timer.async_wait(kTuple);
    }
    for (auto& g : groups_) g->end();
    while (running > 0) {
      wake_->timer.expires_after(std::chrono::milliseconds(20));
      co_await wake_->timer.async_wait(kTuple);
    }
  }
  groups_.clear();
}

Task<void> StreamingHints::run_group(std::shared_ptr<Group> group, model::HintListener& listener) {
  auto& g = *group;
  int failures = 0;
  std::chrono::milliseconds pause{1000};
  while (!g.done) {
    const auto now = Clock::now();
    auto next_retry = Clock::time_point::max();
    for (const auto& m : g.members) {
      auto& s = subscriptions_[m];
      if (!s.id.empty()) continue;
      if (s.retry_at <= now) {
        if (!co_await subscribe(g, m, listener)) next_retry = std::min(next_retry, subscriptions_[m].retry_at);
        if (g.done) co_return;
      } else {
        next_retry = std::min(next_retry, s.retry_at);
      }
    }
    const bool any = std::any_of(g.members.begin(), g.members.end(), [&](const auto& m) { return !subscriptions_[m].id.empty(); });
    if (!any) {
      co_await g.pause(std::chrono::duration_cast<std::chrono::milliseconds>(
          next_retry == Clock::time_point::max() ? settings_.retry : next_retry - Clock::now()));
      continue;
    }
    auto ended = co_await listen(g, listener);
    if (g.done) break;
    if (!ended) {  // the connection's time was up, or subscriptions to renew: at once
      failures = 0;
      pause = std::chrono::milliseconds(1000);
      continue;
    }
    const auto& e = *ended;
    if (e.kind == RemoteErrorKind::throttled) {
      // Too many connections, or the server's load: the group polls meanwhile.
      for (const auto& m : g.members) set_live(m, false, e.code.empty() ? "throttled" : e.code, listener);
      co_await g.pause(std::max(settings_.retry, e.retry_after));
      continue;
    }
    if (++failures >= settings_.failures_before_polling) {
      for (const auto& m : g.members) set_live(m, false, "connection_lost", listener);
    }
    co_await g.pause(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(60000));
  }
}

Task<Result<std::string, RemoteError>> StreamingHints::access_token() {
  auto token = co_await tokens_.access_token();
  if (!token) {
    co_return Fail{RemoteError{RemoteErrorKind::auth,
                               std::string(auth::auth_error_kind_name(token.error().kind)) + ": " + token.error().description,
                               "", {}}};
  }
  co_return *token;
}

Task<bool> StreamingHints::subscribe(Group& g, const std::string& mailbox, model::HintListener& listener) {
  http::Request req;
  req.url = settings_.url;
  req.retry_safe = false;  // a repeat would leave a second subscription behind
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                 {"X-AnchorMailbox", g.anchor()},
                 {"X-PreferServerAffinity", "true"}};
  if (!g.cookie.empty()) req.headers.push_back({"Cookie", g.cookie});
  req.body = subscribe_request(Target(mailbox, settings_.addressing), settings_.folders);
  auto fail = [&](const RemoteError& e) {
    ++stats_.subscribe_failed;
    log::warn("stream.subscribe.failed", {{"mailbox", mailbox},
                                          {"kind", model::remote_error_kind_name(e.kind)},
                                          {"code", e.code},
                                          {"request_id", e.request_id},
                                          {"message", e.message}});
    auto& sub = subscriptions_[mailbox];
    sub.retry_at = Clock::now() + std::max(settings_.retry, e.retry_after);
    set_live(mailbox, false, e.code.empty() ? std::string(model::remote_error_kind_name(e.kind)) : e.code, listener);
    return false;
  };
  auto resp = co_await remote::send_authorized(client_, tokens_, std::move(req), [&](const http::Response& r) {
    log::info("ews.token.rejected", {{"mailbox", mailbox}, {"operation", "Subscribe"}, {"request_id", r.request_id}});
  });
  if (!resp) co_return fail(resp.error());
  if (resp->status != 200) {
    auto e = error_for_http_response(resp->status, resp->body, resp->header("Retry-After"));
    e.request_id = resp->request_id;
    co_return fail(e);
  }
  auto id = parse_subscribe(resp->body);
  if (!id) {
    auto e = id.error();
    e.request_id = resp->request_id;
    if (e.kind == RemoteErrorKind::mismatched_answer || e.kind == RemoteErrorKind::protocol) resp->connection.close();
    co_return fail(e);
  }
  resp->connection.reuse();
  ++stats_.subscribed;
  // Looked up after the request: a reload may have dropped the mailbox meanwhile.
  auto& s = subscriptions_[mailbox];
  s.id = std::move(*id);
  s.retry_at = {};
  if (g.cookie.empty() || mailbox == g.anchor()) {
    if (auto cookie = affinity_cookie(*resp); !cookie.empty()) g.cookie = std::move(cookie);
  }
  if (s.missed && s.live) {  // renewed after the server lost it: events may have been missed
    s.missed = false;
    ++stats_.notifications;
    listener.changed(mailbox);
  }
  co_return true;
}

Task<std::optional<RemoteError>> StreamingHints::listen(Group& g, model::HintListener& listener) {
  std::vector<std::string> ids;
  std::set<std::string> asked;
  std::map<std::string, std::string> mailbox_of;
  for (const auto& m : g.members) {
    const auto& s = subscriptions_[m];
    if (s.id.empty()) continue;
    ids.push_back(s.id);
    asked.insert(s.id);
    mailbox_of[s.id] = m;
  }
  auto note_lost = [&g](const RemoteError& e) {
    log::info("stream.connection.lost", {{"anchor", g.anchor()},
                                         {"kind", model::remote_error_kind_name(e.kind)},
                                         {"code", e.code},
                                         {"request_id", e.request_id},
                                         {"message", e.message}});
  };
  const auto envelope = get_streaming_events_request(Target(g.anchor(), settings_.addressing), ids,
                                                     settings_.connection_minutes);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto token = co_await access_token();  // after a 401, a fresh one: the rejected token was dropped
    if (!token) co_return token.error();
    http::Request req;
    req.url = settings_.url;
    req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                   {"Authorization", std::string(tokens_.scheme()) + " " + *token},
                   {"X-AnchorMailbox", g.anchor()},
                   {"X-PreferServerAffinity", "true"}};
    if (!g.cookie.empty()) req.headers.push_back({"Cookie", g.cookie});
    req.body = envelope;

    EnvelopeSplitter splitter;
    std::optional<RemoteError> ended;
    bool opened = false;
    auto on_body = [&](std::string_view bytes) {
      splitter.feed(bytes);
      while (auto one = splitter.next()) {
        auto parsed = parse_streaming_envelope(*one, asked);
        if (!parsed) {
          ++stats_.refused_envelopes;
          log::warn("stream.envelope.refused", {{"anchor", g.anchor()},
                                                {"kind", model::remote_error_kind_name(parsed.error().kind)},
                                                {"message", parsed.error().message}});
          ended = parsed.error();
          return false;
        }
        if (!opened && !parsed->error) {
          opened = true;
          for (const auto& [id, m] : mailbox_of) set_live(m, true, "", listener);
        }
        for (const auto& id : parsed->notified) {
          ++stats_.notifications;
          listener.changed(mailbox_of.at(id));
        }
        if (!parsed->lost.empty()) {
          for (const auto& id : parsed->lost) {
            const auto& m = mailbox_of.at(id);
            auto& s = subscriptions_[m];
            s.id.clear();
            s.missed = true;
            ++stats_.renewed;
            log::info("stream.subscription.lost",
                      {{"mailbox", m}, {"code", parsed->error ? parsed->error->code : std::string()}});
          }
          return false;  // renew them, then open the connection again
        }
        if (parsed->error) {
          ended = parsed->error;
          return false;
        }
        if (parsed->closed) return false;
      }
      if (splitter.overflowed()) {
        ended = RemoteError{RemoteErrorKind::protocol, "a streamed answer without an envelope's end", "", {}};
        return false;
      }
      return true;
    };
    if (g.done) co_return std::nullopt;
    g.stop = std::make_shared<http::StreamStop>();
    ++stats_.connections;
    log::debug("stream.connection.open", {{"anchor", g.anchor()}, {"subscriptions", ids.size()}});
    auto resp = co_await client_.stream(std::move(req), on_body, settings_.idle_timeout, g.stop);
    if (!resp) {
      auto e = remote::from_http_error(resp.error());
      note_lost(e);
      co_return e;
    }
    if (resp->status == 401 && attempt == 0) {
      log::info("ews.token.rejected", {{"mailbox", g.anchor()}, {"operation", "GetStreamingEvents"}, {"request_id", resp->request_id}});
      tokens_.reject(*token);
      continue;
    }
    if (resp->status != 200) {
      auto e = error_for_http_response(resp->status, resp->body, resp->header("Retry-After"));
      e.request_id = resp->request_id;
      note_lost(e);
      co_return e;
    }
    if (ended) {
      ended->request_id = resp->request_id;
      note_lost(*ended);
    }
    co_return ended;
  }
  co_return std::nullopt;
}

}  // namespace exsync::ews
