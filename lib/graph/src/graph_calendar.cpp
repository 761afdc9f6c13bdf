// The calendar over Microsoft Graph: calendarView delta as the change signal, series read whole
// (master and instances), and the writes of single events. See graph_service.hpp for the design.
#include <array>
#include <boost/json.hpp>
#include <set>

#include "exsync/graph/graph_event.hpp"
#include "exsync/graph/graph_json.hpp"
#include "exsync/graph/graph_service.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/occurrences.hpp"
#include "graph_common.hpp"

namespace exsync::graph {

namespace json = boost::json;
using namespace detail;
using model::RemoteError;
using model::RemoteErrorKind;

namespace {

using namespace std::chrono;

// A calendar cursor carries the window its round began with and whether the round is done, so
// that the next month's first round can start over with the new window:
// "window=2025-12-01 done <deltaLink>" or "window=2025-12-01 more <nextLink>".
struct CalendarCursor {
  std::string window;  // YYYY-MM-DD
  bool done = false;
  std::string link;
};

std::string cursor_text(const CalendarCursor& c) {
  return "window=" + c.window + (c.done ? " done " : " more ") + c.link;
}

std::optional<CalendarCursor> parse_cursor(std::string_view text) {
  constexpr std::string_view kHead = "window=";
  if (text.rfind(kHead, 0) != 0 || text.size() < kHead.size() + 16) return std::nullopt;
  CalendarCursor c;
  c.window = std::string(text.substr(kHead.size(), 10));
  const auto state = text.substr(kHead.size() + 10, 6);
  if (state != " done " && state != " more ") return std::nullopt;
  c.done = state == " done ";
  c.link = std::string(text.substr(kHead.size() + 16));
  return c;
}

std::string window_query(const CalendarWindow& w) {
  return "startDateTime=" + format_rfc3339_utc(w.from) + "&endDateTime=" + format_rfc3339_utc(w.to);
}

}  // namespace

// Whether a list's next link may be followed with the token: under the root, for the same user.
bool GraphService::follows(const std::string& link, const std::string& mailbox) const {
  return under_root(link) && user_of(link) == user_of(user_url(mailbox));
}

namespace {

bool has_attendees(const model::Event& e) { return !e.attendees.empty(); }

RemoteError would_notify() {
  return not_carried(
      "Microsoft Graph sends invitations or cancellations for every change to a meeting: writing one that has "
      "attendees needs send_invitations=true");
}

}  // namespace

CalendarWindow calendar_window(SysSeconds now) {
  const year_month_day today{floor<days>(now)};
  const auto from = year_month{today.year(), today.month()} - years(1);
  const auto to = from + years(4);
  return {sys_days{from / day(1)}, sys_days{to / day(1)}};
}

Task<Result<model::ChangePage, RemoteError>> GraphService::calendar_changes(const std::string& mailbox,
                                                                            const std::string& cursor,
                                                                            int max_changes) {
  const auto window = calendar_window(floor<seconds>(system_clock::now()));
  const std::string window_name = format_date(year_month_day{floor<days>(window.from)});
  std::string url = user_url(mailbox) + "/calendarView/delta?" + window_query(window);
  if (!cursor.empty()) {
    auto c = parse_cursor(cursor);
    if (!c || !under_root(c->link))
      co_return Fail{RemoteError{RemoteErrorKind::invalid_sync_state,
                                 "the stored calendar cursor is not one of this backend's under [graph] url: the folder starts over",
                                 "", {}}};
    if (c->done && c->window != window_name)
      co_return Fail{RemoteError{RemoteErrorKind::invalid_sync_state,
                                 "the calendar window moves on to begin " + window_name +
                                     ": the folder starts over with it, reconciled with what is stored",
                                 "WindowMoved", {}}};
    url = c->link;
  }
  auto answer = co_await delta(mailbox, std::move(url), !cursor.empty(), max_changes);
  if (!answer) co_return Fail{std::move(answer).error()};
  model::ChangePage page;
  page.next_cursor = cursor_text({window_name, answer->last, std::move(answer->link)});
  page.last_page = answer->last;
  for (const auto& entry : answer->entries) {
    auto instance = instance_from_graph(entry);
    if (!instance) co_return Fail{refused_answer(mailbox, "delta", answer->request_id, instance.error())};
    if (instance->type == "singleInstance") {
      auto item = event_from_graph(entry);
      if (!item) co_return Fail{refused_answer(mailbox, "delta", answer->request_id, item.error())};
      page.changes.push_back({model::ChangeKind::updated, item->ref, std::move(item->payload)});
    } else if (instance->type == "seriesMaster") {
      page.changes.push_back({model::ChangeKind::updated, {instance->id, instance->change_key}});
    } else {
      // An occurrence or exception: its series is what changed, read whole by fetch(). The
      // instance's change key is the series' own when nothing but the series changed.
      page.changes.push_back({model::ChangeKind::updated, {instance->series_master_id, instance->change_key}});
    }
  }
  // A removal names an instance, or an event that only left the window: never the series a
  // deleted series was. What is gone is what the calendar no longer lists.
  if (!answer->removed.empty()) {
    auto ids = co_await calendar_ids(mailbox);
    if (!ids) co_return Fail{std::move(ids).error()};
    page.present = std::move(*ids);
  }
  co_return page;
}

Task<Result<std::vector<std::string>, RemoteError>> GraphService::calendar_ids(const std::string& mailbox) {
  std::vector<std::string> out;
  std::string url = user_url(mailbox) + "/calendar/events?$select=id&$top=1000";
  while (!url.empty()) {
    Call call;
    call.url = url;
    auto resp = co_await send_call(mailbox, "list_events", std::move(call));
    if (!resp) co_return Fail{std::move(resp).error()};
    auto body = parse_object(resp->body);
    if (!body) co_return Fail{refuse(*resp, mailbox, "list_events", body.error())};
    const auto* value = body->if_contains("value");
    if (!value || !value->is_array()) co_return Fail{refuse(*resp, mailbox, "list_events", "a list without value")};
    for (const auto& v : value->as_array()) {
      const auto* o = v.if_object();
      const auto* id = o ? o->if_contains("id") : nullptr;
      if (!id || !id->is_string()) co_return Fail{refuse(*resp, mailbox, "list_events", "an event without an id")};
      out.emplace_back(id->as_string());
    }
    url.clear();
    if (const auto* next = body->if_contains("@odata.nextLink"); next && next->is_string()) {
      url = std::string(next->as_string());
      if (!follows(url, mailbox))
        co_return Fail{refuse(*resp, mailbox, "list_events", "a next link outside [graph] url or for another user")};
    }
    resp->connection.reuse();
  }
  co_return out;
}

Task<Result<model::FetchedItems, RemoteError>> GraphService::calendar_fetch(const std::string& mailbox,
                                                                            const std::vector<std::string>& ids) {
  model::FetchedItems out;
  if (ids.empty()) co_return out;
  const auto window = calendar_window(floor<seconds>(system_clock::now()));
  const std::string user_path = "/users/" + http::form_encode(mailbox);
  std::vector<std::string> paths;
  for (const auto& id : ids) paths.push_back(user_path + "/events/" + http::form_encode(id));
  auto answers = co_await batch_get(mailbox, "batch_get_events", paths);
  if (!answers) co_return Fail{std::move(answers).error()};
  std::optional<RemoteError> throttled;
  auto failed = [&](const BatchAnswer& a) -> std::optional<RemoteError> {
    auto error = sub_error(a);
    if (error.kind == RemoteErrorKind::item_not_found) return std::nullopt;  // gone: the delta says so
    if (error.kind == RemoteErrorKind::throttled) {
      if (!throttled || throttled->retry_after < error.retry_after) throttled = error;
      return std::nullopt;
    }
    return error;
  };
  // The items in the order asked; series wait for their instances.
  std::vector<std::optional<model::RemoteItem>> items(ids.size());
  std::vector<std::size_t> series;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& a = (*answers)[i];
    if (a.status != 200 || !a.body.is_object()) {
      if (auto error = failed(a)) co_return Fail{std::move(*error)};
      continue;
    }
    auto item = event_from_graph(a.body.as_object());
    if (item && item->ref.id != ids[i])
      co_return Fail{refused_answer(mailbox, "batch_get_events", a.request_id, "asked for event " + ids[i] + ", got " + item->ref.id)};
    if (!item) {
      out.refused.push_back({ids[i], "InvalidEvent", item.error()});
      continue;
    }
    if (std::get<model::Event>(item->payload).recurrence) series.push_back(i);
    items[i] = std::move(*item);
  }
  if (!series.empty() && !throttled) {
    std::vector<std::string> instance_paths;
    for (auto i : series)
      instance_paths.push_back(user_path + "/events/" + http::form_encode(ids[i]) + "/instances?" + window_query(window) +
                               "&$select=id,type,seriesMasterId,originalStart,start,end,subject,location,body,attendees,isReminderOn,"
                               "reminderMinutesBeforeStart,showAs,originalStartTimeZone&$top=1000");
    auto lists = co_await batch_get(mailbox, "batch_get_instances", instance_paths);
    if (!lists) co_return Fail{std::move(lists).error()};
    for (std::size_t k = 0; k < series.size(); ++k) {
      const auto i = series[k];
      const auto& a = (*lists)[k];
      if (a.status != 200 || !a.body.is_object()) {
        if (auto error = failed(a)) co_return Fail{std::move(*error)};
        items[i].reset();
        continue;
      }
      auto instances = co_await series_instances(mailbox, ids[i], a);
      if (!instances) co_return Fail{std::move(instances).error()};
      join(std::get<model::Event>(items[i]->payload), *instances, window.from, window.to);
    }
  }
  if (throttled) co_return Fail{std::move(*throttled)};
  for (auto& item : items)
    if (item) out.items.push_back(std::move(*item));
  co_return out;
}

Task<Result<std::vector<EventInstance>, RemoteError>> GraphService::series_instances(const std::string& mailbox,
                                                                                     const std::string& master_id,
                                                                                     const BatchAnswer& first_page) {
  std::vector<EventInstance> out;
  json::object page = first_page.body.as_object();
  std::string request_id = first_page.request_id;
  for (;;) {
    const auto* value = page.if_contains("value");
    if (!value || !value->is_array())
      co_return Fail{refused_answer(mailbox, "instances", request_id, "an instance list without value")};
    for (const auto& v : value->as_array()) {
      auto instance = v.is_object() ? instance_from_graph(v.as_object()) : Result<EventInstance, std::string>(Fail{std::string("an instance that is no object")});
      if (!instance) co_return Fail{refused_answer(mailbox, "instances", request_id, instance.error())};
      if (instance->type == "exception" && !instance->original_known)
        co_return Fail{refused_answer(mailbox, "instances", request_id,
                                      "exception " + instance->id + " of " + master_id + " without its originalStart")};
      if (instance->series_master_id != master_id)
        co_return Fail{refused_answer(mailbox, "instances", request_id,
                                      "asked for the instances of " + master_id + ", got one of " + instance->series_master_id)};
      out.push_back(std::move(*instance));
    }
    const auto* next = page.if_contains("@odata.nextLink");
    if (!next || !next->is_string()) co_return out;
    const std::string link(next->as_string());
    if (!follows(link, mailbox))
      co_return Fail{refused_answer(mailbox, "instances", request_id, "a next link outside [graph] url or for another user")};
    Call call;
    call.url = link;
    auto resp = co_await send_call(mailbox, "instances", std::move(call));
    if (!resp) co_return Fail{std::move(resp).error()};
    auto body = parse_object(resp->body);
    if (!body) co_return Fail{refuse(*resp, mailbox, "instances", body.error())};
    resp->connection.reuse();
    page = std::move(*body);
    request_id = resp->request_id;
  }
}

Task<Result<model::RemoteRef, RemoteError>> GraphService::create_event(const std::string& mailbox,
                                                                       const model::Event& event,
                                                                       const std::string& local_id, bool notify) {
  if (has_attendees(event) && !notify) co_return Fail{would_notify()};
  Call call;
  call.method = "POST";
  call.url = user_url(mailbox) + "/calendar/events";
  call.body = json::serialize(event_create_body(event, local_id));
  call.headers.push_back({"Prefer", "outlook.body-content-type=\"text\""});
  call.retry_safe = false;
  auto resp = co_await send_call(mailbox, "create_event", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, "create_event", body.error())};
  auto created = event_from_graph(*body);
  if (!created) co_return Fail{refuse(*resp, mailbox, "create_event", created.error())};
  resp->connection.reuse();
  // A series the CRM changed before it reached the mailbox (a deleted one created again) takes
  // its changed and cancelled occurrences after it exists.
  if (event.modified_occurrences.empty() && event.deleted_occurrences.empty()) co_return created->ref;
  const auto plain = model::without_occurrences(event);
  co_return co_await update_event(mailbox, created->ref, plain, event, true, notify);
}

// The series' (or event's) own fields first, with If-Match; then each occurrence the CRM changed
// or cancelled, by its instance (its id known from an earlier read, else found by its original
// start); then the series' change key as the mailbox holds it after them. Instances have no
// etag of their own: unless `overwrite`, the series' is checked before the first of them when the
// series itself had nothing to write.
Task<Result<model::RemoteRef, RemoteError>> GraphService::update_event(const std::string& mailbox,
                                                                       const model::RemoteRef& ref,
                                                                       const model::Event& before,
                                                                       const model::Event& after, bool overwrite,
                                                                       bool notify) {
  if ((has_attendees(before) || has_attendees(after)) && !notify) co_return Fail{would_notify()};
  auto patch = event_patch_body(before, after);
  const auto occurrences = model::occurrence_writes(before, after);
  model::RemoteRef now = ref;
  if (!patch.empty()) {
    // (Arguments as named values: GCC 12 destroys a conditional's temporary twice in a coroutine.)
    std::string if_match;
    if (!overwrite) if_match = etag_of(ref);
    auto written = co_await write_event(mailbox, "update_event", "PATCH", ref.id, json::serialize(patch), std::move(if_match));
    if (!written) co_return Fail{std::move(written).error()};
    now = written->ref;
  }
  if (occurrences.empty()) co_return now;
  if (patch.empty() && !overwrite) {
    auto current = co_await series_ref(mailbox, ref.id);
    if (!current) co_return Fail{std::move(current).error()};
    if (current->change_key != ref.change_key)
      co_return Fail{RemoteError{RemoteErrorKind::conflict, "the series changed in the mailbox since it was read", "", {}}};
  }
  for (const auto& o : occurrences) {
    std::string instance = o.own_id;
    if (instance.empty()) {
      auto found = co_await find_instance(mailbox, ref.id, o.original_start);
      if (!found) co_return Fail{std::move(found).error()};
      // Cancelled already (by an earlier attempt whose answer was lost): what was wanted holds.
      if (found->empty() && o.cancel) continue;
      if (found->empty())
        co_return Fail{RemoteError{RemoteErrorKind::item_not_found,
                                   "the series has no occurrence originally at " + o.original_start, "", {}}};
      instance = *found;
    }
    if (o.cancel) {
      auto done = co_await write_event(mailbox, "delete_instance", "DELETE", instance, "", "");
      if (!done && done.error().kind != RemoteErrorKind::item_not_found) co_return Fail{std::move(done).error()};
      continue;
    }
    auto body = event_patch_body(o.was, o.becomes);
    if (body.empty()) continue;
    auto done = co_await write_event(mailbox, "update_instance", "PATCH", instance, json::serialize(body), "");
    if (!done) co_return Fail{std::move(done).error()};
  }
  co_return co_await series_ref(mailbox, ref.id);
}

// PATCH or DELETE of /events/{id}: the event as answered (an empty one for a DELETE).
Task<Result<model::RemoteItem, RemoteError>> GraphService::write_event(const std::string& mailbox,
                                                                       std::string_view operation,
                                                                       std::string method, const std::string& id,
                                                                       std::string body, std::string if_match) {
  Call call;
  call.method = std::move(method);
  call.url = user_url(mailbox) + "/events/" + http::form_encode(id);
  call.body = std::move(body);
  call.headers.push_back({"Prefer", "outlook.body-content-type=\"text\""});
  call.retry_safe = false;
  if (!if_match.empty()) call.headers.push_back({"If-Match", std::move(if_match)});
  const bool removal = call.method == "DELETE";
  auto resp = co_await send_call(mailbox, operation, std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  if (removal) {
    resp->connection.reuse();
    co_return model::RemoteItem{};
  }
  auto parsed = parse_object(resp->body);
  if (!parsed) co_return Fail{refuse(*resp, mailbox, operation, parsed.error())};
  model::RemoteItem item;
  if (operation == "update_instance") {
    auto instance = instance_from_graph(*parsed);
    if (!instance) co_return Fail{refuse(*resp, mailbox, operation, instance.error())};
    if (instance->id != id) co_return Fail{refuse(*resp, mailbox, operation, "updated " + id + ", the answer is " + instance->id)};
    item.ref = {instance->id, instance->change_key};
  } else {
    auto event = event_from_graph(*parsed);
    if (!event) co_return Fail{refuse(*resp, mailbox, operation, event.error())};
    if (event->ref.id != id) co_return Fail{refuse(*resp, mailbox, operation, "updated event " + id + ", the answer is " + event->ref.id)};
    item = std::move(*event);
  }
  resp->connection.reuse();
  co_return item;
}

// The series' id and change key as the mailbox holds them now.
Task<Result<model::RemoteRef, RemoteError>> GraphService::series_ref(const std::string& mailbox, const std::string& id) {
  Call call;
  call.url = user_url(mailbox) + "/events/" + http::form_encode(id) + "?$select=id,changeKey,type,start,end,originalStartTimeZone,recurrence";
  auto resp = co_await send_call(mailbox, "get_event", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto parsed = parse_object(resp->body);
  if (!parsed) co_return Fail{refuse(*resp, mailbox, "get_event", parsed.error())};
  auto event = event_from_graph(*parsed);
  if (!event) co_return Fail{refuse(*resp, mailbox, "get_event", event.error())};
  if (event->ref.id != id) co_return Fail{refuse(*resp, mailbox, "get_event", "asked for " + id + ", the answer is " + event->ref.id)};
  resp->connection.reuse();
  co_return event->ref;
}

// The id of the series' instance originally at `original_start`; empty when there is none (it
// was cancelled). An occurrence still where the pattern put it is found in a window around that
// time; one moved elsewhere, in the calendar's window.
Task<Result<std::string, RemoteError>> GraphService::find_instance(const std::string& mailbox, const std::string& master_id,
                                                                   const std::string& original_start) {
  const auto at = parse_xs_datetime(original_start);
  if (!at) co_return std::string();
  // (A named array: a braced list's temporary does not outlive a suspension under GCC 12.)
  const std::array<CalendarWindow, 2> windows{CalendarWindow{*at - days(1), *at + days(15)},
                                              calendar_window(floor<seconds>(system_clock::now()))};
  for (const auto& window : windows) {
    Call call;
    call.url = user_url(mailbox) + "/events/" + http::form_encode(master_id) + "/instances?" + window_query(window) +
               "&$select=id,type,seriesMasterId,originalStart,start,end&$top=1000";
    auto resp = co_await send_call(mailbox, "instances", std::move(call));
    if (!resp) co_return Fail{std::move(resp).error()};
    auto parsed = parse_object(resp->body);
    if (!parsed) co_return Fail{refuse(*resp, mailbox, "instances", parsed.error())};
    resp->connection.reuse();
    const BatchAnswer first{200, std::move(*parsed), "", resp->request_id};
    auto instances = co_await series_instances(mailbox, master_id, first);
    if (!instances) co_return Fail{std::move(instances).error()};
    for (const auto& i : *instances)
      if (i.original_start == *at) co_return i.id;
  }
  co_return std::string();
}

}  // namespace exsync::graph
