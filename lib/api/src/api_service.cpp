#include "exsync/api/api_service.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <variant>

#include "exsync/core/mailbox_address.hpp"
#include "exsync/core/time_format.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/item_json.hpp"
#include "exsync/model/occurrences.hpp"
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
json::object schedule_json(const sync::MailboxStatus& s) {
  return json::object{{"state", std::string(sync::mailbox_state_name(s.state))},
                      {"prioritized", s.prioritized},
                      {"failures", s.failures},
                      {"next_sync", s.state == sync::MailboxState::syncing ? json::value(nullptr) : time_or_null(s.next_sync)},
                      {"last_started", time_or_null(s.last_started)},
                      {"last_success", time_or_null(s.last_success)},
                      {"last_error", s.last_error.empty() ? json::value(nullptr) : json::value(s.last_error)}};
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

// The item as the CRM sees it: its fields plus its identities and its ETag.
std::optional<std::string> item_json(const store::StoredItem& item, model::FolderKind folder = model::FolderKind::contacts) {
  auto payload = model::payload_from_json(folder, item.payload_json);
  if (!payload) return std::nullopt;
  return model::payload_to_json(*payload, model::ItemIdentity{item.local_id, item.remote, store::item_etag(item)});
}

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

// Series are read-only in this version: their pattern and exceptions come from Exchange.
std::optional<std::string> series_change(const model::ItemPayload& before, const model::ItemPayload& after) {
  const auto* b = std::get_if<model::Event>(&before);
  const auto* a = std::get_if<model::Event>(&after);
  if (!a || !b) return std::nullopt;
  if (b->recurrence != a->recurrence || b->modified_occurrences != a->modified_occurrences ||
      b->deleted_occurrences != a->deleted_occurrences)
    return "changing a series' recurrence or occurrences is not supported yet";
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
    if (m.key() == "id" || m.key() == "ews_id" || m.key() == "change_key" || m.key() == "last_modified") continue;
    if (m.value().is_null()) target.erase(m.key());
    else target[m.key()] = m.value();
  }
  return target;
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
  const auto& seg = t.segments;
  if (seg.size() == 1 && seg[0] == "metrics") {
    if (req.method != "GET") co_return error(405, "method_not_allowed", "GET only");
    auto backlog = co_await run_blocking(blocking_, [&] { return store_.backlog(); });
    if (!backlog) co_return store_failure(backlog.error());
    std::string text = settings_.metrics ? settings_.metrics() : std::string();
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
  if (seg.empty() || seg[0] != "v1") co_return error(404, "not_found", "no such route");
  const bool get = req.method == "GET";

  if (seg.size() == 2 && seg[1] == "health") {
    if (!get) co_return error(405, "method_not_allowed", "GET only");
    json::object o{{"status", "ok"}, {"version", settings_.version}, {"mailboxes", settings_.mailboxes.size()}};
    co_return json_response(200, json::serialize(o));
  }
  if (seg.size() < 2 || seg[1] != "mailboxes") co_return error(404, "not_found", "no such route");

  if (seg.size() == 2) {
    if (!get) co_return error(405, "method_not_allowed", "GET only");
    json::array list;
    for (const auto& mailbox : settings_.mailboxes) {
      auto st = co_await run_blocking(blocking_, [&] { return store_.status(mailbox); });
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
      auto outbox = co_await run_blocking(blocking_, [&] { return store_.outbox(mailbox); });
      if (!outbox) co_return store_failure(outbox.error());
      std::int64_t pending = 0, parked = 0;
      for (const auto& e : *outbox) (e.state == "parked" ? parked : pending) += 1;
      json::object entry{{"address", mailbox}, {"folders", std::move(folders)},
                         {"outbox", json::object{{"pending", pending}, {"parked", parked}}}};
      if (settings_.schedule_status) {
        if (auto s = settings_.schedule_status(mailbox)) entry["sync"] = schedule_json(*s);
      }
      list.push_back(std::move(entry));
    }
    co_return json_response(200, json::serialize(json::object{{"mailboxes", std::move(list)}}));
  }

  const std::string mailbox = normalize_mailbox_address(seg[2]);
  if (std::find(settings_.mailboxes.begin(), settings_.mailboxes.end(), mailbox) == settings_.mailboxes.end())
    co_return error(404, "unknown_mailbox", "\"" + seg[2] + "\" is not a configured mailbox");
  if (seg.size() < 4) co_return error(404, "not_found", "no such route");

  if (seg[3] == "changes" && seg.size() == 4) {
    if (!get) co_return error(405, "method_not_allowed", "GET only");
    auto cursor = int_param(t.query, "cursor", 0, 0, INT64_MAX);
    auto limit = int_param(t.query, "limit", 500, 1, 5000);
    if (!cursor || !limit) co_return error(400, "malformed", "cursor must be >= 0 and limit between 1 and 5000");
    // Changes before the feed's horizon were pruned ([store] keep_changes_days): the CRM must
    // read the items again, then follow the feed from the horizon.
    auto horizon = co_await run_blocking(blocking_, [&] { return store_.feed_horizon(); });
    if (!horizon) co_return store_failure(horizon.error());
    if (*cursor < *horizon) {
      json::object o{{"error", "cursor_expired"},
                     {"message", "the changes feed no longer holds the changes after cursor " + std::to_string(*cursor) +
                                     " (kept: [store] keep_changes_days); read the items again (GET .../contacts, "
                                     ".../events) and follow the feed from oldest_cursor"},
                     {"oldest_cursor", *horizon}};
      co_return json_response(410, json::serialize(o));
    }
    auto changes = co_await run_blocking(blocking_, [&] { return store_.changes(mailbox, *cursor, static_cast<int>(*limit)); });
    if (!changes) co_return store_failure(changes.error());
    std::string body = "{\"changes\":[";
    std::int64_t last = *cursor;
    for (std::size_t i = 0; i < changes->size(); ++i) {
      const auto& c = (*changes)[i];
      json::object head{{"seq", c.seq}, {"kind", c.kind}, {"folder", c.folder}, {"id", c.local_id},
                        {"ews_id", c.remote_id}, {"at", c.at}};
      std::string entry = json::serialize(head);
      if (c.current && c.kind != "deleted") {
        if (auto item = item_json(*c.current, model::parse_folder(c.folder).value_or(model::FolderKind::contacts))) {
          entry.pop_back();
          entry += ",\"item\":" + *item + "}";
        }
      }
      if (i) body += ',';
      body += entry;
      last = c.seq;
    }
    body += "],\"cursor\":" + std::to_string(last) + "}";
    co_return json_response(200, std::move(body));
  }

  if (seg[3] == "folders" && seg.size() == 6 && seg[5] == "confirm-deletions") {
    if (req.method != "POST") co_return error(405, "method_not_allowed", "POST only");
    auto folder = model::parse_folder(seg[4]);
    if (!folder) co_return error(404, "unknown_folder", "\"" + seg[4] + "\" is not a folder exsync syncs");
    auto confirmed = co_await run_blocking(blocking_, [&] { return store_.confirm_deletions(mailbox, *folder); });
    if (!confirmed) co_return store_failure(confirmed.error());
    if (!*confirmed) co_return error(409, "nothing_held", "no deletions are held for " + seg[4] + " of " + mailbox);
    log::warn("sync.deletions.confirmed", {{"mailbox", mailbox}, {"folder", seg[4]}});
    if (settings_.on_write) settings_.on_write(mailbox);
    co_return json_response(200, json::serialize(json::object{{"confirmed", true}}));
  }

  if (seg[3] == "conflicts" && seg.size() == 4) {
    if (!get) co_return error(405, "method_not_allowed", "GET only");
    auto entries = co_await run_blocking(blocking_, [&] { return store_.conflicts(mailbox); });
    if (!entries) co_return store_failure(entries.error());
    std::string body = "{\"conflicts\":[";
    for (std::size_t i = 0; i < entries->size(); ++i) {
      const auto& c = (*entries)[i];
      json::object head{{"conflict", c.id}, {"folder", c.folder}, {"id", c.local_id}, {"ews_id", c.remote_id},
                        {"winner", c.winner}, {"at", c.at}};
      std::string entry = json::serialize(head);
      entry.pop_back();
      entry += ",\"losing\":" + (c.losing_json.empty() ? std::string("null") : c.losing_json) + "}";
      body += (i ? "," : "") + entry;
    }
    body += "]}";
    co_return json_response(200, std::move(body));
  }

  if (seg[3] == "quarantine" && seg.size() == 4) {
    if (!get) co_return error(405, "method_not_allowed", "GET only");
    auto entries = co_await run_blocking(blocking_, [&] { return store_.quarantine(mailbox); });
    if (!entries) co_return store_failure(entries.error());
    json::array list;
    for (const auto& e : *entries) {
      list.push_back(json::object{{"folder", e.folder}, {"ews_id", e.remote_id},
                                  {"id", e.local_id.empty() ? json::value(nullptr) : json::value(e.local_id)},
                                  {"code", e.code}, {"reason", e.reason}, {"attempts", e.attempts},
                                  {"since", e.first_at}, {"last_attempt", e.last_at}});
    }
    co_return json_response(200, json::serialize(json::object{{"quarantine", std::move(list)}}));
  }

  if (seg[3] == "outbox" && seg.size() == 4) {
    if (!get) co_return error(405, "method_not_allowed", "GET only");
    auto entries = co_await run_blocking(blocking_, [&] { return store_.outbox(mailbox); });
    if (!entries) co_return store_failure(entries.error());
    json::array list;
    for (const auto& e : *entries) {
      list.push_back(json::object{{"seq", e.seq}, {"folder", e.folder}, {"op", e.op}, {"id", e.local_id},
                                  {"state", e.state}, {"attempts", e.attempts},
                                  {"last_error", e.last_error.empty() ? json::value(nullptr) : json::value(e.last_error)}});
    }
    co_return json_response(200, json::serialize(json::object{{"outbox", std::move(list)}}));
  }

  if (seg[3] == "messages") {
    if (seg.size() == 4) {
      if (req.method != "POST") co_return error(405, "method_not_allowed", "POST only");
      auto body = parse_body(req.body);
      if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
      if (auto unknown = model::message_unknown_field(req.body)) co_return unknown_field_error(*unknown);
      auto message = model::message_from_json(req.body);
      if (!message) co_return error(422, "invalid_field", message.error());
      auto id = co_await run_blocking(blocking_, [&] { return store_.queue_message(mailbox, *message); });
      if (!id) co_return store_failure(id.error());
      if (settings_.on_write) settings_.on_write(mailbox);
      auto resp = json_response(202, json::serialize(json::object{{"id", *id}, {"state", "queued"}}));
      resp.headers.push_back({"Location", "/v1/mailboxes/" + mailbox + "/messages/" + *id});
      co_return resp;
    }
    if (seg.size() == 5) {
      if (!get) co_return error(405, "method_not_allowed", "GET only");
      auto st = co_await run_blocking(blocking_, [&] { return store_.message_status(mailbox, seg[4]); });
      if (!st) co_return store_failure(st.error());
      if (!*st) co_return error(404, "unknown_message", "no message with id \"" + seg[4] + "\" from " + mailbox);
      const auto& m = **st;
      json::object o{{"id", m.local_id}, {"state", m.state}, {"attempts", m.attempts},
                     {"last_error", m.last_error.empty() ? json::value(nullptr) : json::value(m.last_error)},
                     {"created_at", m.created_at},
                     {"sent_at", m.sent_at.empty() ? json::value(nullptr) : json::value(m.sent_at)}};
      co_return json_response(200, json::serialize(o));
    }
    co_return error(404, "not_found", "no such route");
  }

  if (seg[3] != "contacts" && seg[3] != "events") co_return error(404, "not_found", "no such route");
  const auto folder = seg[3] == "events" ? model::FolderKind::calendar : model::FolderKind::contacts;
  // Invitations and cancellations go to a meeting's attendees only when the CRM asks.
  const bool notify = t.query.contains("send_invitations") && t.query.at("send_invitations") == "true";
  auto wrote = [&] {
    if (settings_.on_write) settings_.on_write(mailbox);
  };
  if (folder == model::FolderKind::calendar && seg.size() == 4 && (t.query.contains("start") || t.query.contains("end"))) {
    // What is on the calendar between start and end: series expanded in their own zones.
    const auto from = parse_xs_datetime(t.query.contains("start") ? t.query.at("start") : "");
    const auto to = parse_xs_datetime(t.query.contains("end") ? t.query.at("end") : "");
    if (!from || !to || *from >= *to || *to - *from > std::chrono::days(366))
      co_return error(400, "malformed", "start and end must be RFC 3339 instants, start before end, at most 366 days apart");
    auto items = co_await run_blocking(blocking_, [&] { return store_.items(mailbox, folder); });
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
                         {"ews_id", o.ews_id.empty() ? item.remote.id : o.ews_id},
                         {"subject", event->subject},
                         {"location", event->location},
                         {"all_day", event->all_day},
                         {"time_zone", event->time_zone},
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
  if (seg.size() == 4 && req.method == "POST") {
    auto body = parse_body(req.body);
    if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
    if (auto unknown = model::unknown_field(folder, req.body)) co_return unknown_field_error(*unknown);
    auto parsed = payload_from_body(folder, std::get<json::value>(body));
    if (auto* r = std::get_if<http::Response>(&parsed)) co_return std::move(*r);
    const model::ItemPayload payload = std::get<model::ItemPayload>(parsed);
    if (const auto* event = std::get_if<model::Event>(&payload); event && event->recurrence)
      co_return error(422, "invalid_field", "creating a recurring series is not supported yet");
    auto created = co_await run_blocking(blocking_, [&] { return store_.local_create(mailbox, folder, payload, notify); });
    if (!created) co_return store_failure(created.error());
    wrote();
    auto resp = item_response(201, *created, folder);
    resp.headers.push_back({"Location", "/v1/mailboxes/" + mailbox + "/" + seg[3] + "/" + created->local_id});
    co_return resp;
  }
  if (seg.size() == 4) {
    if (!get) co_return error(405, "method_not_allowed", "GET or POST");
    auto limit = int_param(t.query, "limit", kDefaultPageSize, 1, kMaxPageSize);
    if (!limit) co_return error(400, "malformed", "limit must be between 1 and " + std::to_string(kMaxPageSize));
    const std::string after = t.query.contains("after") ? t.query.at("after") : "";
    auto items = co_await run_blocking(blocking_, [&] {
      return store_.items_page(mailbox, folder, after, static_cast<int>(*limit));
    });
    if (!items) co_return store_failure(items.error());
    std::string body = "{\"items\":[";
    for (std::size_t i = 0; i < items->size(); ++i) {
      if (i) body += ',';
      body += item_json((*items)[i], folder).value_or("null");
    }
    body += "],\"next\":";
    body += static_cast<std::int64_t>(items->size()) == *limit ? json::serialize(json::value(items->back().local_id)) : "null";
    body += '}';
    co_return json_response(200, std::move(body));
  }
  if (seg.size() == 5) {
    const std::string& id = seg[4];
    if (!get && req.method != "PATCH" && req.method != "DELETE")
      co_return error(405, "method_not_allowed", "GET, PATCH or DELETE");
    const std::string_view if_match = req.header("If-Match");
    std::optional<json::object> patch;
    if (req.method == "PATCH") {
      auto body = parse_body(req.body);
      if (auto* r = std::get_if<http::Response>(&body)) co_return std::move(*r);
      if (auto unknown = model::unknown_field(folder, req.body)) co_return unknown_field_error(*unknown);
      patch = std::get<json::value>(body).as_object();
    }
    auto unknown_item = [&] { return error(404, "unknown_item", "no item with id \"" + id + "\" in " + mailbox); };
    // Read, then write on the condition that the item is still what was read: a page synced in
    // between is never reverted. A write that loses the race reads again.
    constexpr int kAttempts = 5;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      auto item = co_await run_blocking(blocking_, [&] { return store_.item(mailbox, folder, id); });
      if (!item) co_return store_failure(item.error());
      if (!*item) co_return unknown_item();
      const store::StoredItem& current = **item;
      if (get) co_return item_response(200, current, folder);
      if (!if_match.empty() && !if_match_holds(if_match, store::item_etag(current)))
        co_return precondition_failed(current, folder);

      Result<store::CrmWrite, model::StoreError> written = store::CrmWrite{};
      if (req.method == "DELETE") {
        written = co_await run_blocking(blocking_, [&] {
          return store_.local_delete_if(mailbox, folder, id, current.payload_json, notify);
        });
      } else {
        auto merged = merge_patch(json::parse(current.payload_json).as_object(), *patch);
        auto parsed = payload_from_body(folder, merged);
        if (auto* r = std::get_if<http::Response>(&parsed)) co_return std::move(*r);
        const model::ItemPayload payload = std::get<model::ItemPayload>(parsed);
        if (auto current_payload = model::payload_from_json(folder, current.payload_json)) {
          if (auto change = series_change(*current_payload, payload)) co_return error(422, "invalid_field", *change);
        }
        written = co_await run_blocking(blocking_, [&] {
          return store_.local_update_if(mailbox, folder, id, payload, current.payload_json, notify);
        });
      }
      if (!written) co_return store_failure(written.error());
      switch (written->outcome) {
        case store::CrmWrite::Outcome::missing: co_return unknown_item();
        case store::CrmWrite::Outcome::changed: continue;
        case store::CrmWrite::Outcome::done: break;
      }
      wrote();
      if (req.method == "DELETE") co_return http::Response{204, {}, ""};
      co_return item_response(200, *written->item, folder);
    }
    co_return error(503, "busy", "the item kept changing while it was written; try again");
  }
  co_return error(404, "not_found", "no such route");
}

}  // namespace exsync::api
