#include "exsync/api/api_service.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <functional>
#include <set>
#include <variant>

#include "exsync/core/mailbox_address.hpp"
#include "exsync/core/time_format.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/item_json.hpp"
#include "exsync/model/occurrences.hpp"
#include "exsync/model/time_zone.hpp"
#include "exsync/model/contact_validation.hpp"
#include "exsync/model/message_json.hpp"

namespace exsync::api {
namespace json = boost::json;
namespace {

json::value time_or_null(Clock::time_point t) {
  if (t == Clock::time_point{}) return nullptr;
  return json::value(format_rfc3339_utc(std::chrono::floor<std::chrono::seconds>(t)));
}

// Where the mailbox stands in the daemon's schedule.
json::object schedule_json(const sync::MailboxStatus& s, const std::string& pushed) {
  return json::object{{"state", std::string(sync::mailbox_state_name(s.state))},
                      {"prioritized", s.prioritized},
                      {"failures", s.failures},
                      {"next_sync", s.state == sync::MailboxState::syncing ? json::value(nullptr) : time_or_null(s.next_sync)},
                      {"last_started", time_or_null(s.last_started)},
                      {"last_success", time_or_null(s.last_success)},
                      {"last_error", s.last_error.empty() ? json::value(nullptr) : json::value(s.last_error)},
                      {"changes", s.pushed ? pushed : "polling"},
                      {"poll_interval_seconds", s.interval.count()}};
}

http::Response json_response(int status, std::string body) {
  return {status, {{"Content-Type", "application/json"}, {"Cache-Control", "no-store"}}, std::move(body)};
}

http::Response error(int status, std::string_view code, std::string_view message) {
  json::object o{{"error", code}, {"message", message}};
  auto r = json_response(status, json::serialize(o));
  if (status == 401) r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"exsync\""});
  return r;
}

http::Response store_failure(const model::StoreError& e) {
  log::error("api.store.failed", {{"message", e.message}});
  return error(e.kind == model::StoreErrorKind::busy ? 503 : 500, "store_unavailable",
               "the local store could not be read; see the daemon's log");
}

using store::item_json;

// One item, with its ETag header.
http::Response item_response(int status, const store::StoredItem& item, model::FolderKind folder) {
  auto r = json_response(status, item_json(item, folder).value_or("null"));
  r.headers.push_back({"ETag", store::item_etag(item)});
  return r;
}

// If-Match (RFC 9110 13.1.1): "*" or a list of strong tags, one of which must be the item's.
bool if_match_holds(std::string_view header, const std::string& etag) {
  while (!header.empty()) {
    const auto comma = header.find(',');
    auto tag = header.substr(0, comma);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*" || tag == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

// 412 with the item as it is now, so that the CRM can show or merge it without another read.
http::Response precondition_failed(const store::StoredItem& now, model::FolderKind folder) {
  json::object o{{"error", "precondition_failed"},
                 {"message", "the item changed since the ETag given in If-Match was read; \"current\" is the item now"},
                 {"current", json::parse(item_json(now, folder).value_or("null"))}};
  auto r = json_response(412, json::serialize(o));
  r.headers.push_back({"ETag", store::item_etag(now)});
  return r;
}

http::Response unknown_field_error(const std::string& field) {
  return error(422, "unknown_field", "\"" + field + "\" is not a field of this resource; nothing was written");
}

// Reads a positive integer query parameter within [1, max]; `fallback` when absent.
std::optional<std::int64_t> int_param(const std::map<std::string, std::string>& q, const std::string& name,
                                      std::int64_t fallback, std::int64_t min, std::int64_t max) {
  auto it = q.find(name);
  if (it == q.end()) return fallback;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || p != it->second.data() + it->second.size() || v < min || v > max) return std::nullopt;
  return v;
}

// Reads an item of the folder's kind from a request body: 422 when a field is wrong.
std::variant<model::ItemPayload, http::Response> payload_from_body(model::FolderKind folder, const json::value& body) {
  auto payload = model::payload_from_json(folder, json::serialize(body));
  if (!payload) return error(422, "invalid_field", payload.error());
  auto problem = std::visit(
      [](const auto& item) {
        if constexpr (std::is_same_v<std::decay_t<decltype(item)>, model::Contact>) return model::contact_problem(item);
        else return model::event_problem(item);
      },
      *payload);
  if (problem) return error(422, "invalid_field", *problem);
  return std::move(*payload);
}

// What a PATCH of a whole series may change. Its recurrence, yes; its occurrences go through
// .../occurrences/{original_start}, one at a time, as an agent changes them in Outlook. An
// occurrence change the new pattern has no place for is dropped, as the mailbox drops it.
std::optional<std::string> series_change(const model::ItemPayload& before, model::ItemPayload& after) {
  const auto* b = std::get_if<model::Event>(&before);
  auto* a = std::get_if<model::Event>(&after);
  if (!a || !b) return std::nullopt;
  if (b->recurrence && !a->recurrence) return "a series cannot become a single event: delete the series and create one";
  if (!b->recurrence && a->recurrence) return "a single event cannot become a series: create the series and delete the event";
  if (b->modified_occurrences != a->modified_occurrences || b->deleted_occurrences != a->deleted_occurrences)
    return "occurrences change one at a time: PATCH or DELETE .../events/{id}/occurrences/{original_start}";
  if (!a->recurrence || (b->recurrence == a->recurrence && b->start == a->start && b->time_zone == a->time_zone))
    return std::nullopt;
  std::erase_if(a->modified_occurrences,
                [&](const model::OccurrenceChange& m) { return !model::pattern_occurrence(*a, m.original_start); });
  std::erase_if(a->deleted_occurrences, [&](const std::string& d) { return !model::pattern_occurrence(*a, d); });
  return std::nullopt;
}

std::variant<json::value, http::Response> parse_body(const std::string& body) {
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return error(400, "malformed", "the body is not JSON: " + ec.message());
  if (!v.is_object()) return error(400, "malformed", "the body must be a JSON object");
  return v;
}

// RFC 7396 merge patch over the item's JSON: present members replace, null removes. The
// identity members are the store's, not the CRM's to change.
json::object merge_patch(json::object target, const json::object& patch) {
  for (const auto& m : patch) {
    if (m.key() == "id" || m.key() == "remote_id" || m.key() == "ews_id" || m.key() == "change_key" || m.key() == "last_modified") continue;
    if (m.value().is_null()) target.erase(m.key());
    else target[m.key()] = m.value();
  }
  return target;
}

// One request, matched to its route: what a handler needs.
struct Call {
  store::CrmStore& store;
  net::thread_pool& blocking;
  const ApiSettings& settings;
  const http::Request& req;
  const http::RequestTarget& target;
  std::string mailbox;  // routes under /v1/mailboxes/{mailbox}: normalised and configured
  std::string param;    // the route's last {placeholder} after the mailbox (folder, message or item id)
  std::string occurrence;  // {occurrence}: a series' occurrence, by its original start
  model::FolderKind folder = model::FolderKind::contacts;  // item routes: contacts or events

  template <typename F>
  auto blocking_call(F fn) const {
    return run_blocking(blocking, std::move(fn));
  }
  void wrote() const {
    if (settings.on_write) settings.on_write(mailbox);
  }
  const std::string* query(const std::string& name) const {
    auto it = target.query.find(name);
    return it == target.query.end() ? nullptr : &it->second;
  }
  // Invitations and cancellations go to a meeting's attendees only when the CRM asks.
  bool notify() const {
    const auto* v = query("send_invitations");
    return v && *v == "true";
  }
  std::string collection() const { return folder == model::FolderKind::calendar ? "events" : "contacts"; }
};

using Handler = Task<http::Response> (*)(const Call&);

Task<http::Response> get_metrics(const Call& c) {
  auto backlog = co_await c.blocking_call([&] { return c.store.backlog(); });
  if (!backlog) co_return store_failure(backlog.error());
  std::string text = c.settings.metrics ? c.settings.metrics() : std::string();
  text += "# HELP exsync_outbox_writes CRM changes waiting for Exchange: pending, or parked after repeated refusals.\n"
          "# TYPE exsync_outbox_writes gauge\n"
          "exsync_outbox_writes{state=\"pending\"} " + std::to_string(backlog->pending_writes) + "\n"
          "exsync_outbox_writes{state=\"parked\"} " + std::to_string(backlog->parked_writes) + "\n"
          "# HELP exsync_messages Messages the CRM queued: waiting to be sent, or failed for good.\n"
          "# TYPE exsync_messages gauge\n"
          "exsync_messages{state=\"queued\"} " + std::to_string(backlog->queued_messages) + "\n"
          "exsync_messages{state=\"failed\"} " + std::to_string(backlog->failed_messages) + "\n"
          "# HELP exsync_items_quarantined Items Exchange refuses to hand over, set aside and retried later.\n"
          "# TYPE exsync_items_quarantined gauge\n"
          "exsync_items_quarantined " + std::to_string(backlog->quarantined_items) + "\n";
  co_return http::Response{200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}, std::move(text)};
}

// GET /v1/openapi.json: this API's contract (docs/openapi.yaml), compiled in.
Task<http::Response> get_openapi(const Call&) {
  co_return json_response(200, std::string(kOpenApiJson));
}

Task<http::Response> get_health(const Call& c) {
  json::object o{{"status", "ok"}, {"version", c.settings.version}, {"mailboxes", c.settings.mailboxes.size()}};
  co_return json_response(200, json::serialize(o));
}

Task<http::Response> list_mailboxes(const Call& c) {
  json::array list;
  for (const auto& mailbox : c.settings.mailboxes) {
    auto st = co_await c.blocking_call([&] { return c.store.status(mailbox); });
    if (!st) co_return store_failure(st.error());
    json::object folders;
    for (const auto& f : *st) {
      folders[f.folder] = json::object{
          {"items", f.items},
          {"last_success", f.last_success.empty() ? json::value(nullptr) : json::value(f.last_success)},
          {"last_error", f.last_error.empty() ? json::value(nullptr) : json::value(f.last_error)},
          {"last_error_at", f.last_error_at.empty() ? json::value(nullptr) : json::value(f.last_error_at)},
          {"deletions_held", f.deletions_held},
          {"quarantined", f.quarantined}};
    }
    auto outbox = co_await c.blocking_call([&] { return c.store.outbox(mailbox); });
    if (!outbox) co_return store_failure(outbox.error());
    std::int64_t pending = 0, parked = 0;
    for (const auto& e : *outbox) (e.state == "parked" ? parked : pending) += 1;
    json::object entry{{"address", mailbox}, {"folders", std::move(folders)},
                       {"outbox", json::object{{"pending", pending}, {"parked", parked}}}};
    if (c.settings.schedule_status) {
      if (auto s = c.settings.schedule_status(mailbox)) entry["sync"] = schedule_json(*s, c.settings.pushed_mode);
    }
    list.push_back(std::move(entry));
  }
  co_return json_response(200, json::serialize(json::object{{"mailboxes", std::move(list)}}));
}

Task<http::Response> get_changes(const Call& c) {
  auto cursor = int_param(c.target.query, "cursor", 0, 0, INT64_MAX);
  auto limit = int_param(c.target.query, "limit", 500, 1, 5000);
  if (!cursor || !limit) co_return error(400, "malformed", "cursor must be >= 0 and limit between 1 and 5000");
  // Changes before the feed's horizon were pruned ([store] keep_changes_days): the CRM must
  // read the items again, then follow the feed from the horizon.
  auto horizon = co_await c.blocking_call([&] { return c.store.feed_horizon(); });
  if (!horizon) co_return store_failure(horizon.error());
  if (*cursor < *horizon) {
    json::object o{{"error", "cursor_expired"},
                   {"message", "the changes feed no longer holds the changes after cursor " + std::to_string(*cursor) +
                                   " (kept: [store] keep_changes_days); read the items again (GET .../contacts, "
                                   ".../events) and follow the feed from oldest_cursor"},
                   {"oldest_cursor", *horizon}};
    co_return json_response(410, json::serialize(o));
  }
  auto changes = co_await c.blocking_call([&] { return c.store.changes(c.mailbox, *cursor, static_cast<int>(*limit)); });
  if (!changes) co_return store_failure(changes.error());
  std::string body = "{\"changes\":[";
  std::int64_t last = *cursor;
  for (std::size_t i = 0; i < changes->size(); ++i) {
    const auto& ch = (*changes)[i];
    json::object head{{"seq", ch.seq}, {"kind", ch.kind}, {"folder", ch.folder}, {"id", ch.local_id},
                      {"remote_id", ch.remote_id}, {"ews_id", ch.remote_id}, {"at", ch.at}};
    std::string entry = json::serialize(head);
    if (ch.current && ch.kind != "deleted") {
      if (auto item = item_json(*ch.current, model::parse_folder(ch.folder).value_or(model::FolderKind::contacts))) {
        entry.pop_back();
        entry += ",\"item\":" + *item + "}";
      }
    }
    if (i) body += ',';
    body += entry;
    last = ch.seq;
  }
  body += "],\"cursor\":" + std::to_string(last) + "}";
  co_return json_response(200, std::move(body));
}

Task<http::Response> confirm_deletions(const Call& c) {
  auto folder = model::parse_folder(c.param);
  if (!folder) co_return error(404, "unknown_folder", "\"" + c.param + "\" is not a folder exsync syncs");
  auto confirmed = co_await c.blocking_call([&] { return c.store.confirm_deletions(c.mailbox, *folder); });
  if (!confirmed) co_return store_failure(confirmed.error());
  if (!*confirmed) co_return error(409, "nothing_held", "no deletions are held for " + c.param + " of " + c.mailbox);
  log::warn("sync.deletions.confirmed", {{"mailbox", c.mailbox}, {"folder", c.param}});
  c.wrote();
  co_return json_response(200, json::serialize(json::object{{"confirmed", true}}));
}

Task<http::Response> get_conflicts(const Call& c) {
  auto entries = co_await c.blocking_call([&] { return c.store.conflicts(c.mailbox); });
  if (!entries) co_return store_failure(entries.error());
  std::string body = "{\"conflicts\":[";
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const auto& e = (*entries)[i];
    json::object head{{"conflict", e.id}, {"folder", e.folder}, {"id", e.local_id}, {"remote_id", e.remote_id}, {"ews_id", e.remote_id},
                      {"winner", e.winner}, {"at", e.at}};
    std::string entry = json::serialize(head);
    entry.pop_back();
    entry += ",\"losing\":" + (e.losing_json.empty() ? std::string("null") : e.losing_json) + "}";
    body += (i ? "," : "") + entry;
  }
  body += "]}";
  co_return json_response(200, std::move(body));
}

Task<http::Response> get_quarantine(const Call& c) {
  auto entries = co_await c.blocking_call([&] { return c.store.quarantine(c.mailbox); });
  if (!entries) co_return store_failure(entries.error());
  json::array list;
  for (const auto& e : *entries) {
    list.push_back(json::object{{"folder", e.folder}, {"remote_id", e.remote_id}, {"ews_id", e.remote_id},
                                {"id", e.local_id.empty() ? json::value(nullptr) : json::value(e.local_id)},
                                {"code", e.code}, {"reason", e.reason}, {"attempts", e.attempts},
                                {"since", e.first_at}, {"last_attempt", e.last_at}});
  }
  co_return json_response(200, json::serialize(json::object{{"quarantine", std::move(list)}}));
}

Task<http::Response> get_outbox(const Call& c) {
  auto entries = co_await c.blocking_call([&] { return c.store.outbox(c.mailbox); });
  if (!entries) co_return store_failure(entries.error());
  json::array list;
  for (const auto& e : *entries) {
    list.push_back(json::object{{"seq", e.seq}, {"folder", e.folder}, {"op", e.op}, {"id", e.local_id},
                                {"state", e.state}, {"attempts", e.attempts},
                                {"last_error", e.last_error.empty() ? json::value(nullptr) : json::value(e.last_error)}});
  }
  co_return json_response(200, json::serialize(json::object{{"outbox", std::move(list)}}));
}

// 422 for what the tenant's backend cannot carry, before anything is stored.
std::optional<http::Response> unsupported(const Call& c, bool messages) {
  const auto& can = c.settings.capabilities;
  if (messages && !can.send_mail)
    return error(422, "not_supported", "this tenant's backend cannot send mail yet ([tenant] protocol); nothing was queued");
  if (!messages && c.folder == model::FolderKind::calendar && !can.calendar)
    return error(422, "not_supported", "this tenant's backend does not carry the calendar yet ([tenant] protocol); nothing was written");
  if (!messages && c.folder == model::FolderKind::contacts && !can.contacts)
    return error(422, "not_supported", "this tenant's backend does not carry contacts ([tenant] protocol); nothing was written");
  return std::nullopt;
}

// 422 for a meeting write the tenant's backend would announce to its attendees although the CRM
// did not ask for it (Graph sends invitations and cancellations for every meeting write).
std::optional<http::Response> unannounced_meeting(const Call& c, std::initializer_list<const model::ItemPayload*> payloads) {
  if (c.folder != model::FolderKind::calendar || c.settings.capabilities.silent_meeting_writes || c.notify())
    return std::nullopt;
  for (const auto* p : payloads) {
    const auto* event = p ? std::get_if<model::Event>(p) : nullptr;
    if (event && !event->attendees.empty())
      return error(422, "not_supported",
                   "this tenant's backend (Microsoft Graph) tells a meeting's attendees of every change: write a "
                   "meeting with ?send_invitations=true; nothing was written");
  }
  return std::nullopt;
}

Task<http::Response> send_message(const Call& c) {
  if (auto refused = unsupported(c, true)) co_return std::move(*refused);
  auto body = parse_body(c.req.body);
  if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
  if (auto unknown = model::message_unknown_field(c.req.body)) co_return unknown_field_error(*unknown);
  auto message = model::message_from_json(c.req.body);
  if (!message) co_return error(422, "invalid_field", message.error());
  auto id = co_await c.blocking_call([&] { return c.store.queue_message(c.mailbox, *message); });
  if (!id) co_return store_failure(id.error());
  c.wrote();
  auto resp = json_response(202, json::serialize(json::object{{"id", *id}, {"state", "queued"}}));
  resp.headers.push_back({"Location", "/v1/mailboxes/" + c.mailbox + "/messages/" + *id});
  co_return resp;
}

Task<http::Response> get_message(const Call& c) {
  auto st = co_await c.blocking_call([&] { return c.store.message_status(c.mailbox, c.param); });
  if (!st) co_return store_failure(st.error());
  if (!*st) co_return error(404, "unknown_message", "no message with id \"" + c.param + "\" from " + c.mailbox);
  const auto& m = **st;
  json::object o{{"id", m.local_id}, {"state", m.state}, {"attempts", m.attempts},
                 {"last_error", m.last_error.empty() ? json::value(nullptr) : json::value(m.last_error)},
                 {"created_at", m.created_at},
                 {"sent_at", m.sent_at.empty() ? json::value(nullptr) : json::value(m.sent_at)}};
  co_return json_response(200, json::serialize(o));
}

// What is on the calendar between start and end: series expanded in their own zones.
Task<http::Response> get_occurrences(const Call& c) {
  const auto* start = c.query("start");
  const auto* end = c.query("end");
  const auto from = parse_xs_datetime(start ? *start : "");
  const auto to = parse_xs_datetime(end ? *end : "");
  if (!from || !to || *from >= *to || *to - *from > std::chrono::days(366))
    co_return error(400, "malformed", "start and end must be RFC 3339 instants, start before end, at most 366 days apart");
  auto items = co_await c.blocking_call([&] { return c.store.items(c.mailbox, c.folder); });
  if (!items) co_return store_failure(items.error());
  struct Row {
    SysSeconds at;
    std::string json;
  };
  std::vector<Row> rows;
  for (const auto& item : *items) {
    auto event = model::event_from_json(item.payload_json);
    if (!event) continue;
    for (const auto& o : model::expand(*event, *from, *to)) {
      json::object row{{"id", item.local_id},
                       {"remote_id", o.ews_id.empty() ? item.remote.id : o.ews_id},
                       {"ews_id", o.ews_id.empty() ? item.remote.id : o.ews_id},
                       {"subject", o.details ? o.details->subject : event->subject},
                       {"location", o.details ? o.details->location : event->location},
                       {"all_day", event->all_day},
                       {"time_zone", o.details && !o.details->time_zone.empty() ? o.details->time_zone : event->time_zone},
                       {"start", o.start},
                       {"end", o.end},
                       {"original_start", o.original_start},
                       {"modified", o.modified}};
      rows.push_back({parse_xs_datetime(o.start).value_or(SysSeconds{}), json::serialize(row)});
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.at < b.at; });
  std::string body = "{\"occurrences\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) body += (i ? "," : "") + rows[i].json;
  body += "]}";
  co_return json_response(200, std::move(body));
}

Task<http::Response> list_items(const Call& c) {
  if (c.folder == model::FolderKind::calendar && (c.query("start") || c.query("end"))) co_return co_await get_occurrences(c);
  auto limit = int_param(c.target.query, "limit", ApiService::kDefaultPageSize, 1, ApiService::kMaxPageSize);
  if (!limit) co_return error(400, "malformed", "limit must be between 1 and " + std::to_string(ApiService::kMaxPageSize));
  const auto* after_param = c.query("after");
  const std::string after = after_param ? *after_param : "";
  auto items = co_await c.blocking_call([&] { return c.store.items_page(c.mailbox, c.folder, after, static_cast<int>(*limit)); });
  if (!items) co_return store_failure(items.error());
  std::string body = "{\"items\":[";
  for (std::size_t i = 0; i < items->size(); ++i) {
    if (i) body += ',';
    body += item_json((*items)[i], c.folder).value_or("null");
  }
  body += "],\"next\":";
  body += static_cast<std::int64_t>(items->size()) == *limit ? json::serialize(json::value(items->back().local_id)) : "null";
  body += '}';
  co_return json_response(200, std::move(body));
}

Task<http::Response> create_item(const Call& c) {
  if (auto refused = unsupported(c, false)) co_return std::move(*refused);
  auto body = parse_body(c.req.body);
  if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
  if (auto unknown = model::unknown_field(c.folder, c.req.body)) co_return unknown_field_error(*unknown);
  auto parsed = payload_from_body(c.folder, std::get<json::value>(body));
  if (auto* r = std::get_if<http::Response>(&parsed)) co_return std::move(*r);
  const model::ItemPayload payload = std::get<model::ItemPayload>(parsed);
  if (const auto* event = std::get_if<model::Event>(&payload);
      event && (!event->modified_occurrences.empty() || !event->deleted_occurrences.empty()))
    co_return error(422, "invalid_field",
                    "a new series has no changed or cancelled occurrences: create it, then change them through "
                    ".../events/{id}/occurrences/{original_start}");
  if (auto refused = unannounced_meeting(c, {&payload})) co_return std::move(*refused);
  const bool notify = c.notify();
  auto created = co_await c.blocking_call([&] { return c.store.local_create(c.mailbox, c.folder, payload, notify); });
  if (!created) co_return store_failure(created.error());
  c.wrote();
  auto resp = item_response(201, *created, c.folder);
  resp.headers.push_back({"Location", "/v1/mailboxes/" + c.mailbox + "/" + c.collection() + "/" + created->local_id});
  co_return resp;
}

http::Response unknown_item(const Call& c) {
  return error(404, "unknown_item", "no item with id \"" + c.param + "\" in " + c.mailbox);
}

Task<http::Response> get_item(const Call& c) {
  auto item = co_await c.blocking_call([&] { return c.store.item(c.mailbox, c.folder, c.param); });
  if (!item) co_return store_failure(item.error());
  if (!*item) co_return unknown_item(c);
  co_return item_response(200, **item, c.folder);
}

// How a write changes the item read: the item to store, nothing (a deletion) or a refusal.
using Change = std::function<std::variant<std::optional<model::ItemPayload>, http::Response>(
    const store::StoredItem& current, const std::optional<model::ItemPayload>& current_payload)>;

// Read, then write `change` on the condition that the item is still what was read: a page
// synced in between is never reverted. A write that loses the race reads again. `answer`: the
// status of a successful write that keeps the item (200, or 204 with the new ETag alone).
Task<http::Response> write_item(const Call& c, const Change& change, int answer = 200) {
  if (auto refused = unsupported(c, false)) co_return std::move(*refused);
  const std::string_view if_match = c.req.header("If-Match");
  const bool notify = c.notify();
  constexpr int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto item = co_await c.blocking_call([&] { return c.store.item(c.mailbox, c.folder, c.param); });
    if (!item) co_return store_failure(item.error());
    if (!*item) co_return unknown_item(c);
    const store::StoredItem& current = **item;
    if (!if_match.empty() && !if_match_holds(if_match, store::item_etag(current)))
      co_return precondition_failed(current, c.folder);

    const auto current_payload = model::payload_from_json(c.folder, current.payload_json);
    const std::optional<model::ItemPayload> readable =
        current_payload ? std::optional<model::ItemPayload>(*current_payload) : std::nullopt;
    auto changed = change(current, readable);
    if (auto* r = std::get_if<http::Response>(&changed)) co_return std::move(*r);
    const auto& payload = std::get<std::optional<model::ItemPayload>>(changed);
    if (auto refused = unannounced_meeting(c, {readable ? &*readable : nullptr, payload ? &*payload : nullptr}))
      co_return std::move(*refused);
    Result<store::CrmWrite, model::StoreError> written = store::CrmWrite{};
    if (!payload) {
      written = co_await c.blocking_call([&] {
        return c.store.local_delete_if(c.mailbox, c.folder, c.param, current.payload_json, notify);
      });
    } else {
      written = co_await c.blocking_call([&] {
        return c.store.local_update_if(c.mailbox, c.folder, c.param, *payload, current.payload_json, notify);
      });
    }
    if (!written) co_return store_failure(written.error());
    switch (written->outcome) {
      case store::CrmWrite::Outcome::missing: co_return unknown_item(c);
      case store::CrmWrite::Outcome::changed: continue;
      case store::CrmWrite::Outcome::done: break;
    }
    c.wrote();
    if (!payload) co_return http::Response{204, {}, ""};
    if (answer == 204) co_return http::Response{204, {{"ETag", store::item_etag(*written->item)}}, ""};
    co_return item_response(200, *written->item, c.folder);
  }
  co_return error(503, "busy", "the item kept changing while it was written; try again");
}

Task<http::Response> patch_item(const Call& c) {
  auto body = parse_body(c.req.body);
  if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
  if (auto unknown = model::unknown_field(c.folder, c.req.body)) co_return unknown_field_error(*unknown);
  const auto patch = std::get<json::value>(body).as_object();
  // (A named Change: the coroutine holds it by reference across its suspensions.)
  const Change change = [&](const store::StoredItem& current, const std::optional<model::ItemPayload>& before)
      -> std::variant<std::optional<model::ItemPayload>, http::Response> {
    auto merged = merge_patch(json::parse(current.payload_json).as_object(), patch);
    auto parsed = payload_from_body(c.folder, merged);
    if (auto* r = std::get_if<http::Response>(&parsed)) return std::move(*r);
    auto payload = std::get<model::ItemPayload>(std::move(parsed));
    if (before) {
      if (auto change = series_change(*before, payload)) return error(422, "invalid_field", *change);
    }
    return std::optional<model::ItemPayload>(std::move(payload));
  };
  co_return co_await write_item(c, change);
}

Task<http::Response> delete_item(const Call& c) {
  const Change removal = [](const store::StoredItem&, const std::optional<model::ItemPayload>&)
      -> std::variant<std::optional<model::ItemPayload>, http::Response> { return std::optional<model::ItemPayload>(); };
  co_return co_await write_item(c, removal);
}

// The series an occurrence route names, and the occurrence's original start in UTC; or the
// refusal.
std::variant<std::pair<model::Event, std::string>, http::Response> series_occurrence(
    const Call& c, const std::optional<model::ItemPayload>& current) {
  const auto* series = current ? std::get_if<model::Event>(&*current) : nullptr;
  if (!series) return error(500, "store_unavailable", "the stored event could not be read; see the daemon's log");
  if (!series->recurrence)
    return error(404, "unknown_occurrence", "\"" + c.param + "\" is a single event, not a series: change it through .../events/" + c.param);
  const auto at = parse_xs_datetime(c.occurrence);
  if (!at) return error(400, "malformed", "an occurrence is named by its original start, an RFC 3339 instant");
  auto original = format_rfc3339_utc(*at);
  const bool cancelled = std::find(series->deleted_occurrences.begin(), series->deleted_occurrences.end(), original) !=
                         series->deleted_occurrences.end();
  if (cancelled || !model::pattern_occurrence(*series, original))
    return error(404, "unknown_occurrence",
                 "the series has no " + std::string(cancelled ? "uncancelled " : "") + "occurrence originally at " + original);
  return std::pair{*series, std::move(original)};
}

// PATCH .../occurrences/{original_start}: one occurrence moved, renamed or changed.
Task<http::Response> patch_occurrence(const Call& c) {
  auto body = parse_body(c.req.body);
  if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
  const auto patch = std::get<json::value>(body).as_object();
  static const std::set<std::string_view> kFields = {"start", "end", "subject", "location", "body", "reminder_minutes", "free_busy"};
  for (const auto& m : patch)
    if (!kFields.contains(m.key()))
      co_return error(422, "unknown_field", "\"" + std::string(m.key()) +
                                                "\" is not a field of an occurrence (start, end, subject, location, body, "
                                                "reminder_minutes, free_busy); nothing was written");
  const Change change = [&](const store::StoredItem&, const std::optional<model::ItemPayload>& current)
      -> std::variant<std::optional<model::ItemPayload>, http::Response> {
    auto found = series_occurrence(c, current);
    if (auto* r = std::get_if<http::Response>(&found)) return std::move(*r);
    auto& [series, original] = std::get<0>(found);
    const auto pattern = model::pattern_occurrence(series, original);
    auto it = std::find_if(series.modified_occurrences.begin(), series.modified_occurrences.end(),
                           [&](const auto& m) { return m.original_start == original; });
    model::OccurrenceChange o{"", original, pattern->start, pattern->end, std::nullopt};
    if (it != series.modified_occurrences.end()) o = *it;
    model::OccurrenceDetails d = o.details.value_or(model::OccurrenceDetails{
        series.subject, series.location, series.body, series.time_zone, series.attendees, series.reminder_minutes,
        series.free_busy});
    auto text = [&](std::string_view key, std::string& field) -> std::optional<std::string> {
      const auto* v = patch.if_contains(key);
      if (!v) return std::nullopt;
      if (!v->is_string()) return std::string(key) + " must be a string";
      field = std::string(v->as_string());
      return std::nullopt;
    };
    for (auto [key, field] : {std::pair<std::string_view, std::string*>{"subject", &d.subject}, {"location", &d.location},
                              {"body", &d.body}, {"free_busy", &d.free_busy}, {"start", &o.start}, {"end", &o.end}})
      if (auto problem = text(key, *field)) return error(422, "invalid_field", *problem);
    if (const auto* v = patch.if_contains("reminder_minutes")) {
      if (v->is_null()) d.reminder_minutes.reset();
      else if (v->is_int64()) d.reminder_minutes = static_cast<int>(v->as_int64());
      else return error(422, "invalid_field", "reminder_minutes must be a whole number or null");
    }
    const auto start = parse_xs_datetime(o.start), end = parse_xs_datetime(o.end);
    if (!start || !end) return error(422, "invalid_field", "start and end must be RFC 3339 times with an offset");
    if (*end < *start) return error(422, "invalid_field", "end is before start");
    o.start = model::format_in_zone(*start, series.time_zone);
    o.end = model::format_in_zone(*end, series.time_zone);
    o.details = std::move(d);
    // Its own fields are checked as an event's are.
    if (auto problem = model::event_problem(model::occurrence_event(series, o))) return error(422, "invalid_field", *problem);
    if (it != series.modified_occurrences.end()) *it = std::move(o);
    else series.modified_occurrences.push_back(std::move(o));
    model::sort_occurrences(series);
    return std::optional<model::ItemPayload>(std::move(series));
  };
  co_return co_await write_item(c, change);
}

// DELETE .../occurrences/{original_start}: one occurrence cancelled.
Task<http::Response> delete_occurrence(const Call& c) {
  const Change cancel = [&](const store::StoredItem&, const std::optional<model::ItemPayload>& current)
      -> std::variant<std::optional<model::ItemPayload>, http::Response> {
    auto found = series_occurrence(c, current);
    if (auto* r = std::get_if<http::Response>(&found)) return std::move(*r);
    auto& [series, original] = std::get<0>(found);
    std::erase_if(series.modified_occurrences, [&](const auto& m) { return m.original_start == original; });
    series.deleted_occurrences.push_back(original);
    model::sort_occurrences(series);
    return std::optional<model::ItemPayload>(std::move(series));
  };
  co_return co_await write_item(c, cancel, 204);
}

// GET /v1/webhooks: the endpoint, whether it is failing, what it has delivered and what waits.
Task<http::Response> get_webhooks(const Call& c) {
  json::array list;
  if (const auto s = c.settings.webhook_status ? c.settings.webhook_status() : std::nullopt) {
    auto when = [](const std::string& t) { return t.empty() ? json::value(nullptr) : json::value(t); };
    list.push_back(json::object{{"name", s->name},
                                {"url", s->url},
                                {"state", s->failing ? "failing" : "ok"},
                                {"failures_in_a_row", s->failures_in_a_row},
                                {"last_error", s->last_error.empty() ? json::value(nullptr) : json::value(s->last_error)},
                                {"last_success", when(s->last_success_at)},
                                {"last_failure", when(s->last_failure_at)},
                                {"delivered", s->delivered},
                                {"backlog", s->backlog}});
  }
  co_return json_response(200, json::serialize(json::object{{"webhooks", std::move(list)}}));
}

// POST /v1/webhooks/{name}/replay {"cursor": N}: every entry after N is delivered again.
Task<http::Response> replay_webhook(const Call& c) {
  const auto s = c.settings.webhook_status ? c.settings.webhook_status() : std::nullopt;
  if (!s || s->name != c.param) co_return error(404, "unknown_webhook", "no webhook endpoint named \"" + c.param + "\" ([webhooks] name)");
  auto body = parse_body(c.req.body);
  if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
  const auto& o = std::get<json::value>(body).as_object();
  const auto* cursor = o.if_contains("cursor");
  if (!cursor || !cursor->is_int64() || cursor->as_int64() < 0 || o.size() != 1)
    co_return error(422, "invalid_field", "the body is {\"cursor\": N}, N a cursor of the changes feed (0 or more)");
  auto horizon = co_await c.blocking_call([&] { return c.store.feed_horizon(); });
  if (!horizon) co_return store_failure(horizon.error());
  if (cursor->as_int64() < *horizon) {
    json::object e{{"error", "cursor_expired"},
                   {"message", "the changes feed no longer holds the changes after cursor " + std::to_string(cursor->as_int64()) +
                                   " (kept: [store] keep_changes_days); replay from oldest_cursor or later"},
                   {"oldest_cursor", *horizon}};
    co_return json_response(410, json::serialize(e));
  }
  auto done = co_await c.blocking_call([&] { return c.store.rewind_webhook(c.param, cursor->as_int64()); });
  if (!done) co_return store_failure(done.error());
  log::info("webhook.replay", {{"endpoint", c.param}, {"cursor", cursor->as_int64()}});
  if (c.settings.on_webhook_replay) c.settings.on_webhook_replay();
  co_return json_response(202, json::serialize(json::object{{"replaying_after", cursor->as_int64()}}));
}

// The API's routes. A pattern's segments are literals or placeholders: {mailbox} (a configured
// mailbox, else 404 unknown_mailbox), {param} and {occurrence} (any one segment). A path that matches with
// another method is answered 405 with the methods it has.
struct Route {
  std::string_view method;
  std::string_view pattern;
  Handler handler;
  model::FolderKind folder = model::FolderKind::contacts;
};

constexpr auto kCalendar = model::FolderKind::calendar;

const Route kRoutes[] = {
    {"GET", "/metrics", get_metrics},
    {"GET", "/v1/health", get_health},
    {"GET", "/v1/openapi.json", get_openapi},
    {"GET", "/v1/mailboxes", list_mailboxes},
    {"GET", "/v1/webhooks", get_webhooks},
    {"POST", "/v1/webhooks/{param}/replay", replay_webhook},
    {"GET", "/v1/mailboxes/{mailbox}/changes", get_changes},
    {"POST", "/v1/mailboxes/{mailbox}/folders/{param}/confirm-deletions", confirm_deletions},
    {"GET", "/v1/mailboxes/{mailbox}/conflicts", get_conflicts},
    {"GET", "/v1/mailboxes/{mailbox}/quarantine", get_quarantine},
    {"GET", "/v1/mailboxes/{mailbox}/outbox", get_outbox},
    {"POST", "/v1/mailboxes/{mailbox}/messages", send_message},
    {"GET", "/v1/mailboxes/{mailbox}/messages/{param}", get_message},
    {"GET", "/v1/mailboxes/{mailbox}/contacts", list_items},
    {"POST", "/v1/mailboxes/{mailbox}/contacts", create_item},
    {"GET", "/v1/mailboxes/{mailbox}/contacts/{param}", get_item},
    {"PATCH", "/v1/mailboxes/{mailbox}/contacts/{param}", patch_item},
    {"DELETE", "/v1/mailboxes/{mailbox}/contacts/{param}", delete_item},
    {"GET", "/v1/mailboxes/{mailbox}/events", list_items, kCalendar},
    {"POST", "/v1/mailboxes/{mailbox}/events", create_item, kCalendar},
    {"GET", "/v1/mailboxes/{mailbox}/events/{param}", get_item, kCalendar},
    {"PATCH", "/v1/mailboxes/{mailbox}/events/{param}", patch_item, kCalendar},
    {"DELETE", "/v1/mailboxes/{mailbox}/events/{param}", delete_item, kCalendar},
    {"PATCH", "/v1/mailboxes/{mailbox}/events/{param}/occurrences/{occurrence}", patch_occurrence, kCalendar},
    {"DELETE", "/v1/mailboxes/{mailbox}/events/{param}/occurrences/{occurrence}", delete_occurrence, kCalendar},
};

// Whether `segments` has the pattern's shape; fills the placeholders.
bool matches(std::string_view pattern, const std::vector<std::string>& segments, std::string& mailbox,
             std::string& param, std::string& occurrence) {
  std::size_t i = 0;
  pattern.remove_prefix(1);
  while (!pattern.empty()) {
    const auto slash = pattern.find('/');
    const auto part = pattern.substr(0, slash);
    if (i >= segments.size()) return false;
    if (part == "{mailbox}") mailbox = segments[i];
    else if (part == "{param}") param = segments[i];
    else if (part == "{occurrence}") occurrence = segments[i];
    else if (part != segments[i]) return false;
    ++i;
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
  }
  return i == segments.size();
}

}  // namespace

ApiService::ApiService(store::CrmStore& store, net::thread_pool& blocking, ApiSettings settings)
    : store_(store), blocking_(blocking), settings_(std::move(settings)) {}

Task<http::Response> ApiService::handle(http::Request request) {
  std::string_view auth = request.header("Authorization");
  if (auth.size() < 7 || auth.substr(0, 7) != "Bearer " || !http::constant_time_equal(auth.substr(7), settings_.token))
    co_return error(401, "unauthorized", "a valid bearer token is required (see [api] token_file)");
  auto target = http::parse_request_target(request.url);
  if (!target) co_return error(400, "malformed", "the request target is not a valid URL path");
  co_return co_await route(request, *target);
}

Task<http::Response> ApiService::route(const http::Request& req, const http::RequestTarget& t) {
  std::string allowed;  // methods of the routes whose path matched
  for (const auto& r : kRoutes) {
    std::string mailbox, param, occurrence;
    if (!matches(r.pattern, t.segments, mailbox, param, occurrence)) continue;
    if (r.method != req.method) {
      if (allowed.find(r.method) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
      continue;
    }
    Call call{store_, blocking_, settings_, req, t, {}, std::move(param), std::move(occurrence), r.folder};
    if (r.pattern.find("{mailbox}") != std::string_view::npos) {
      call.mailbox = normalize_mailbox_address(mailbox);
      if (std::find(settings_.mailboxes.begin(), settings_.mailboxes.end(), call.mailbox) == settings_.mailboxes.end())
        co_return error(404, "unknown_mailbox", "\"" + mailbox + "\" is not a configured mailbox");
    }
    co_return co_await r.handler(call);
  }
  if (!allowed.empty()) {
    auto r = error(405, "method_not_allowed", "this route takes " + allowed);
    r.headers.push_back({"Allow", allowed});
    co_return r;
  }
  co_return error(404, "not_found", "no such route");
}

}  // namespace exsync::api
