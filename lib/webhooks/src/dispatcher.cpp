#include "exsync/webhooks/dispatcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <random>

#include "exsync/core/time_format.hpp"
#include "exsync/crypto/webhook_signature.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/folder.hpp"

namespace exsync::webhooks {
namespace json = boost::json;

struct Dispatcher::Timer {
  explicit Timer(const net::any_io_executor& ex) : timer(ex) {}
  net::steady_timer timer;
};

namespace {

// Entries read from the store per mailbox at a time.
constexpr int kBatch = 100;

std::string now_rfc3339() {
  return format_rfc3339_utc(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

// "contact.created", "event.deleted", ...: the entry's type, as Standard Webhooks' payloads name it.
std::string event_type(const store::ChangeRecord& c) {
  const std::string thing = c.folder == "calendar" ? "event" : "contact";
  return thing + "." + c.kind;
}

// The message body: {"type", "timestamp", "data"}, data being the feed's entry with its mailbox
// and the item as it is now (as GET .../changes gives it).
std::string payload(const std::string& mailbox, const store::ChangeRecord& c) {
  json::object data{{"mailbox", mailbox}, {"seq", c.seq},       {"kind", c.kind}, {"folder", c.folder},
                    {"id", c.local_id},   {"remote_id", c.remote_id}, {"at", c.at}};
  std::string body = json::serialize(json::object{{"type", event_type(c)}, {"timestamp", c.at}, {"data", std::move(data)}});
  if (c.current && c.kind != "deleted") {
    if (auto item = store::item_json(*c.current, model::parse_folder(c.folder).value_or(model::FolderKind::contacts))) {
      body.resize(body.size() - 2);  // "}}": the item goes into data
      body += ",\"item\":" + *item + "}}";
    }
  }
  return body;
}

}  // namespace

Dispatcher::Dispatcher(store::CrmStore& store, net::thread_pool& blocking, http::Client& client, Endpoint endpoint)
    : store_(store), blocking_(blocking), client_(client), endpoint_(std::move(endpoint)),
      jitter_state_(std::random_device{}()) {
  status_.name = endpoint_.name;
  status_.url = endpoint_.url;
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::stop() {
  stopping_ = true;
  wake();
}

void Dispatcher::wake() {
  if (timer_) timer_->timer.cancel();
}

EndpointStatus Dispatcher::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

std::string Dispatcher::metrics() const {
  const auto s = status();
  const std::string label = "endpoint=\"" + s.name + "\"";
  return "# HELP exsync_webhook_deliveries_total Webhook deliveries to the CRM, by outcome.\n"
         "# TYPE exsync_webhook_deliveries_total counter\n"
         "exsync_webhook_deliveries_total{" + label + ",result=\"delivered\"} " + std::to_string(s.delivered) + "\n"
         "exsync_webhook_deliveries_total{" + label + ",result=\"failed\"} " + std::to_string(s.failed) + "\n"
         "# HELP exsync_webhook_failing 1 while the endpoint has failed failing_after deliveries in a row.\n"
         "# TYPE exsync_webhook_failing gauge\n"
         "exsync_webhook_failing{" + label + "} " + (s.failing ? "1" : "0") + "\n"
         "# HELP exsync_webhook_backlog Changes feed entries the endpoint has not taken yet.\n"
         "# TYPE exsync_webhook_backlog gauge\n"
         "exsync_webhook_backlog{" + label + "} " + std::to_string(s.backlog) + "\n";
}

Task<void> Dispatcher::run() {
  auto ex = co_await net::this_coro::executor;
  timer_ = std::make_unique<Timer>(ex);
  bool look = true;  // at the store's backlog, not only at the feed's head
  for (;;) {
    if (stopping_ && in_flight_ == 0) break;
    const auto now = std::chrono::steady_clock::now();
    if (!stopping_ && now >= retry_at_ && in_flight_ < endpoint_.max_in_flight) {
      auto head = co_await run_blocking(blocking_, [&] { return store_.feed_head(); });
      if (head && *head != seen_head_) look = true;
      if (look && head) {
        auto backlog = co_await run_blocking(blocking_, [&] { return store_.webhook_backlog(endpoint_.name); });
        if (!backlog) {
          log::warn("webhook.store.failed", {{"endpoint", endpoint_.name}, {"message", backlog.error().message}});
        } else {
          seen_head_ = *head;
          look = false;
          std::int64_t waiting = 0;
          for (auto& b : *backlog) {
            waiting += b.head - b.cursor;  // an upper bound: seqs are shared by the mailboxes
            if (busy_.contains(b.mailbox) || in_flight_ >= endpoint_.max_in_flight) continue;
            busy_.insert(b.mailbox);
            ++in_flight_;
            net::co_spawn(ex, deliver_mailbox(std::move(b)), [](std::exception_ptr e) {
              if (e) std::rethrow_exception(e);  // a bug, not an outside failure
            });
          }
          std::lock_guard lock(mu_);
          status_.backlog = waiting;
        }
      }
    }
    // Until the next look at the feed, the end of a back-off, or a finished delivery (wake()).
    auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(endpoint_.poll);
    if (retry_at_ > now) wait = std::max(wait, retry_at_ - now);
    timer_->timer.expires_after(wait);
    auto [ec] = co_await timer_->timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) look = true;  // woken: a delivery finished or the feed grew
  }
}

// One mailbox's entries past its cursor, in order, until its feed is delivered or one fails.
Task<void> Dispatcher::deliver_mailbox(store::WebhookBacklog backlog) {
  bool ok = true;
  std::int64_t cursor = backlog.cursor;
  while (ok && !stopping_ && std::chrono::steady_clock::now() >= retry_at_) {
    auto horizon = co_await run_blocking(blocking_, [&] { return store_.feed_horizon(); });
    auto changes = co_await run_blocking(blocking_, [&] { return store_.changes(backlog.mailbox, cursor, kBatch); });
    if (!horizon || !changes) {
      log::warn("webhook.store.failed", {{"endpoint", endpoint_.name},
                                         {"message", !horizon ? horizon.error().message : changes.error().message}});
      ok = false;
      break;
    }
    if (cursor < *horizon && (changes->empty() || changes->front().seq > cursor + 1)) {
      // Pruned before they were delivered ([store] keep_changes_days): the CRM reads the items again.
      log::warn("webhook.feed.gap", {{"endpoint", endpoint_.name}, {"mailbox", backlog.mailbox},
                                     {"after", cursor}, {"horizon", *horizon}});
    }
    if (changes->empty()) break;
    for (const auto& change : *changes) {
      if (stopping_ || !(co_await deliver(backlog.mailbox, change))) {
        ok = false;
        break;
      }
      cursor = change.seq;
      auto moved = co_await run_blocking(blocking_, [&] { return store_.advance_webhook(endpoint_.name, backlog.mailbox, cursor); });
      if (!moved) {
        log::warn("webhook.store.failed", {{"endpoint", endpoint_.name}, {"message", moved.error().message}});
        ok = false;
        break;
      }
    }
    if (static_cast<int>(changes->size()) < kBatch) break;
  }
  busy_.erase(backlog.mailbox);
  --in_flight_;
  wake();
}

// One entry, once: true when the endpoint took it (2xx).
Task<bool> Dispatcher::deliver(const std::string& mailbox, const store::ChangeRecord& change) {
  const std::string id = "exsync_" + endpoint_.source + "_" + std::to_string(change.seq);
  const auto timestamp =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  http::Request req;
  req.method = "POST";
  req.url = endpoint_.url;
  req.retry_safe = false;  // a repeat is for the next attempt to make, with the same id
  req.body = payload(mailbox, change);
  req.headers = {{"Content-Type", "application/json"},
                 {"webhook-id", id},
                 {"webhook-timestamp", std::to_string(timestamp)},
                 {"webhook-signature", crypto::webhook_signature(endpoint_.key, id, timestamp, req.body)}};
  auto resp = co_await client_.send(std::move(req));
  std::string why;
  if (!resp) {
    why = resp.error().message;
  } else if (resp->status < 200 || resp->status > 299) {
    why = "HTTP " + std::to_string(resp->status);
  } else {
    resp->connection.reuse();
    succeeded();
    co_return true;
  }
  log::warn("webhook.delivery.failed", {{"endpoint", endpoint_.name},
                                        {"mailbox", mailbox},
                                        {"seq", change.seq},
                                        {"webhook_id", id},
                                        {"message", why}});
  failed(why);
  co_return false;
}

void Dispatcher::succeeded() {
  bool recovered = false;
  {
    std::lock_guard lock(mu_);
    ++status_.delivered;
    recovered = status_.failing;
    status_.failing = false;
    status_.failures_in_a_row = 0;
    status_.last_success_at = now_rfc3339();
  }
  if (recovered) log::info("webhook.endpoint.recovered", {{"endpoint", endpoint_.name}, {"url", endpoint_.url}});
}

void Dispatcher::failed(const std::string& why) {
  int failures = 0;
  bool now_failing = false;
  {
    std::lock_guard lock(mu_);
    ++status_.failed;
    failures = ++status_.failures_in_a_row;
    status_.last_error = why;
    status_.last_failure_at = now_rfc3339();
    if (!status_.failing && failures >= endpoint_.failing_after) now_failing = status_.failing = true;
  }
  // Exponential back-off with full jitter in its upper half: first_retry * 2^(n-1), at most max_retry.
  const auto cap = std::chrono::duration_cast<std::chrono::milliseconds>(endpoint_.max_retry);
  auto wait = endpoint_.first_retry * (std::int64_t{1} << std::min(failures - 1, 20));
  wait = std::min<std::chrono::milliseconds>(wait, cap);
  jitter_state_ = jitter_state_ * 1664525u + 1013904223u;
  wait = wait / 2 + std::chrono::milliseconds(static_cast<std::int64_t>(jitter_state_ % (wait.count() / 2 + 1)));
  const auto until = std::chrono::steady_clock::now() + wait;
  retry_at_ = std::max(retry_at_, until);
  if (now_failing)
    log::error("webhook.endpoint.failing", {{"endpoint", endpoint_.name},
                                            {"url", endpoint_.url},
                                            {"failures", failures},
                                            {"message", why},
                                            {"retry_in_ms", wait.count()}});
}

}  // namespace exsync::webhooks
