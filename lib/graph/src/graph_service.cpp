#include "exsync/graph/graph_service.hpp"

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "exsync/crypto/base64.hpp"
#include "exsync/graph/graph_json.hpp"
#include "graph_common.hpp"
#include "exsync/log/log.hpp"
#include "exsync/remote/authorized_send.hpp"
#include "exsync/model/tag.hpp"

namespace exsync::graph {

namespace json = boost::json;
namespace urls = boost::urls;
using namespace detail;
using model::RemoteError;
using model::RemoteErrorKind;


GraphService::GraphService(http::Client& client, auth::TokenSource& tokens, GraphSettings settings)
    : client_(client), tokens_(tokens), settings_(std::move(settings)) {
  while (!settings_.url.empty() && settings_.url.back() == '/') settings_.url.pop_back();
}

std::string GraphService::user_url(const std::string& mailbox) const {
  return settings_.url + "/users/" + http::form_encode(mailbox);
}

bool GraphService::under_root(std::string_view link) const {
  auto root = urls::parse_uri(settings_.url);
  auto u = urls::parse_uri(link);
  if (!root || !u) return false;
  if (u->scheme_id() != urls::scheme::https || root->scheme_id() != urls::scheme::https) return false;
  if (lower(std::string(u->encoded_host())) != lower(std::string(root->encoded_host()))) return false;
  if (u->port_number() != root->port_number()) return false;
  const auto prefix = std::string(root->encoded_path());
  const auto path = std::string(u->encoded_path());
  return path.rfind(prefix + "/", 0) == 0;
}

Task<Result<http::Response, RemoteError>> GraphService::send_call(const std::string& mailbox,
                                                                  std::string_view operation, Call call) {
  http::Request req;
  req.method = call.method;
  req.url = call.url;
  req.retry_safe = call.retry_safe;
  // One Prefer header holding every preference (RFC 7240 allows a list), so that no hop that
  // keeps one field of a name drops the immutable ids.
  std::string prefer = "IdType=\"ImmutableId\"";
  for (const auto& h : call.headers)
    if (lower(h.name) == "prefer") prefer += ", " + h.value;
  req.headers = {{"Prefer", std::move(prefer)}};
  if (!call.body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  for (const auto& h : call.headers)
    if (lower(h.name) != "prefer") req.headers.push_back(h);
  req.body = std::move(call.body);
  auto resp = co_await remote::send_authorized(client_, tokens_, std::move(req), [&](const http::Response& r) {
    log::info("graph.token.rejected", {{"mailbox", mailbox}, {"operation", operation}, {"request_id", r.request_id}});
  });
  if (!resp) {
    const auto& e = resp.error();
    if (e.kind == RemoteErrorKind::mismatched_answer) {
      ++stats_.refused_answers;
      log::warn("graph.answer.refused", {{"mailbox", mailbox}, {"operation", operation},
                                         {"request_id", e.request_id}, {"message", e.message}});
    }
    co_return Fail{std::move(resp).error()};
  }
  if (resp->status >= 200 && resp->status < 300) co_return std::move(*resp);
  co_return Fail{error_for_graph_answer(*resp)};
}

Result<json::array, RemoteError> GraphService::answer_list(http::Response& resp, const std::string& mailbox,
                                                          std::string_view operation) {
  auto body = parse_object(resp.body);
  if (!body) return Fail{refuse(resp, mailbox, operation, body.error())};
  auto* value = body->if_contains("value");
  if (!value || !value->is_array()) return Fail{refuse(resp, mailbox, operation, "a list without value")};
  return std::move(value->as_array());
}

RemoteError GraphService::refuse(http::Response& resp, const std::string& mailbox, std::string_view operation,
                                 std::string why) {
  resp.connection.close();
  return refused_answer(mailbox, operation, resp.request_id, std::move(why));
}

Task<Result<GraphService::DeltaAnswer, RemoteError>> GraphService::delta(const std::string& mailbox, std::string url,
                                                                        bool resumed, int max_changes) {
  Call call;
  call.url = std::move(url);
  const std::string asked_user = user_of(call.url);
  call.headers.push_back({"Prefer", "odata.maxpagesize=" + std::to_string(std::max(1, max_changes))});
  call.headers.push_back({"Prefer", "outlook.body-content-type=\"text\""});
  ++stats_.delta_requests;
  auto resp = co_await send_call(mailbox, "delta", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, "delta", body.error())};
  DeltaAnswer out;
  const auto* next = body->if_contains("@odata.nextLink");
  const auto* link = body->if_contains("@odata.deltaLink");
  if ((next != nullptr) == (link != nullptr) || !(next ? next : link)->is_string())
    co_return Fail{refuse(*resp, mailbox, "delta", "a delta page without exactly one of @odata.nextLink and @odata.deltaLink")};
  out.link = std::string((next ? next : link)->as_string());
  out.last = link != nullptr;
  if (!under_root(out.link))
    co_return Fail{refuse(*resp, mailbox, "delta", "a delta link outside [graph] url: " + out.link)};
  // The link must go on with the user the request asked for (the first request names the user
  // by address; Graph may name it by its object id from then on).
  const std::string linked_user = user_of(out.link);
  if (linked_user != asked_user && (linked_user.find('@') != std::string::npos || resumed))
    co_return Fail{refuse(*resp, mailbox, "delta", "the delta link names user " + linked_user + ", not " + asked_user)};
  auto* value = body->if_contains("value");
  if (!value || !value->is_array()) co_return Fail{refuse(*resp, mailbox, "delta", "a delta page without value")};
  for (auto& entry : value->as_array()) {
    if (!entry.is_object()) co_return Fail{refuse(*resp, mailbox, "delta", "a delta entry that is no object")};
    auto& o = entry.as_object();
    if (o.contains("@removed")) {
      const auto* id = o.if_contains("id");
      if (!id || !id->is_string()) co_return Fail{refuse(*resp, mailbox, "delta", "a removal without an id")};
      out.removed.emplace_back(id->as_string());
      continue;
    }
    out.entries.push_back(std::move(o));
  }
  out.request_id = resp->request_id;
  resp->connection.reuse();
  co_return out;
}

Task<Result<model::ChangePage, RemoteError>> GraphService::changes(const std::string& mailbox, model::FolderKind folder,
                                                                   const std::string& cursor, int max_changes) {
  if (folder == model::FolderKind::calendar) co_return co_await calendar_changes(mailbox, cursor, max_changes);
  std::string url = user_url(mailbox) + "/contactFolders/contacts/contacts/delta";
  if (!cursor.empty()) {
    // A link from another root (the setting changed): start over, reconciling with the store.
    if (!under_root(cursor))
      co_return Fail{RemoteError{RemoteErrorKind::invalid_sync_state,
                                 "the stored delta link is not under [graph] url: the folder starts over", "", {}}};
    url = cursor;
  }
  auto answer = co_await delta(mailbox, std::move(url), !cursor.empty(), max_changes);
  if (!answer) co_return Fail{std::move(answer).error()};
  model::ChangePage page;
  page.next_cursor = std::move(answer->link);
  page.last_page = answer->last;
  for (auto& id : answer->removed) page.changes.push_back({model::ChangeKind::deleted, {std::move(id), ""}});
  for (const auto& o : answer->entries) {
    auto item = contact_from_graph(o);
    if (!item) co_return Fail{refused_answer(mailbox, "delta", answer->request_id, item.error())};
    page.changes.push_back({model::ChangeKind::updated, item->ref, std::move(item->payload)});
  }
  co_return page;
}

Task<Result<std::int64_t, RemoteError>> GraphService::count(const std::string& mailbox, model::FolderKind folder) {
  Call call;
  call.url = user_url(mailbox) + (folder == model::FolderKind::calendar ? "/calendar/events" : "/contactFolders/contacts/contacts") +
             "?$count=true&$top=1&$select=id";
  auto resp = co_await send_call(mailbox, "count", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, "count", body.error())};
  const auto* n = body->if_contains("@odata.count");
  if (!n || !n->is_int64()) co_return Fail{refuse(*resp, mailbox, "count", "a count without @odata.count")};
  resp->connection.reuse();
  co_return n->as_int64();
}

Task<Result<std::vector<GraphService::BatchAnswer>, RemoteError>> GraphService::batch_get(
    const std::string& mailbox, std::string_view operation, const std::vector<std::string>& paths) {
  std::vector<SubRequest> requests;
  for (const auto& path : paths) requests.push_back({"GET", path, nullptr});
  co_return co_await batch(mailbox, operation, requests);
}

Task<Result<std::vector<GraphService::BatchAnswer>, RemoteError>> GraphService::batch(
    const std::string& mailbox, std::string_view operation, const std::vector<SubRequest>& subs) {
  const auto& paths = subs;
  if (paths.size() > kBatchLimit) co_return Fail{RemoteError{RemoteErrorKind::setup, "more requests than one $batch takes", "", {}}};
  // Each sub-request is numbered by its position: an answer is matched to its request by it.
  // Written as text: the sub-requests' bodies are serialized once, into the batch's body.
  static constexpr std::string_view kHeaders = R"("headers":{"Prefer":"IdType=\"ImmutableId\", outlook.body-content-type=\"text\"")";
  std::string text = R"({"requests":[)";
  for (std::size_t i = 0; i < subs.size(); ++i) {
    const auto& sub = subs[i];
    if (i > 0) text += ',';
    text += R"({"id":")" + std::to_string(i) + R"(","method":)" + json::serialize(json::string_view(sub.method));
    text += R"(,"url":)" + json::serialize(json::string_view(sub.url)) + ",";
    text += kHeaders;
    text += sub.body.is_null() ? "}}" : R"(,"Content-Type":"application/json"},"body":)" + json::serialize(sub.body) + "}";
  }
  text += "]}";
  Call call;
  call.method = "POST";
  call.url = settings_.url + "/$batch";
  call.body = std::move(text);
  ++stats_.item_requests;
  auto resp = co_await send_call(mailbox, operation, std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, operation, body.error())};
  auto* responses = body->if_contains("responses");
  if (!responses || !responses->is_array() || responses->as_array().size() != paths.size())
    co_return Fail{refuse(*resp, mailbox, operation, "a $batch answer without one response per request")};
  std::vector<BatchAnswer> out(paths.size());
  std::vector<bool> seen(paths.size(), false);
  for (auto& r : responses->as_array()) {
    auto* o = r.if_object();
    const auto* id = o ? o->if_contains("id") : nullptr;
    std::size_t at = paths.size();
    if (id && id->is_string()) {
      const std::string_view text = id->as_string();
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), at);
      if (ec != std::errc{} || end != text.data() + text.size()) at = paths.size();
    }
    if (at >= paths.size() || seen[at])
      co_return Fail{refuse(*resp, mailbox, operation, "a $batch response for a request that was not sent")};
    seen[at] = true;
    auto& answer = out[at];
    const auto* status = o->if_contains("status");
    answer.status = status && status->is_int64() ? static_cast<int>(status->as_int64()) : 0;
    if (auto* b = o->if_contains("body")) answer.body = std::move(*b);
    if (const auto* h = o->if_contains("headers"); h && h->is_object())
      for (const auto& [k, v] : h->as_object())
        if (lower(std::string(k)) == "retry-after" && v.is_string()) answer.retry_after = std::string(v.as_string());
    answer.request_id = resp->request_id;
  }
  resp->connection.reuse();
  co_return out;
}

RemoteError GraphService::refused_answer(const std::string& mailbox, std::string_view operation, std::string request_id,
                                         std::string why) {
  ++stats_.refused_answers;
  RemoteError e{RemoteErrorKind::mismatched_answer, std::move(why), "", {}};
  e.request_id = std::move(request_id);
  log::warn("graph.answer.refused", {{"mailbox", mailbox}, {"operation", operation},
                                     {"request_id", e.request_id}, {"message", e.message}});
  return e;
}

RemoteError GraphService::sub_error(const BatchAnswer& a) {
  auto error = error_for_graph_response(a.status, a.body.is_null() ? "" : json::serialize(a.body), a.retry_after);
  error.request_id = a.request_id;
  return error;
}

Task<Result<model::FetchedItems, RemoteError>> GraphService::fetch(const std::string& mailbox,
                                                                   model::FolderKind folder,
                                                                   const std::vector<std::string>& ids) {
  if (folder == model::FolderKind::calendar) co_return co_await calendar_fetch(mailbox, ids);
  model::FetchedItems out;
  if (ids.empty()) co_return out;
  std::vector<std::string> paths;
  const std::string user_path = "/users/" + http::form_encode(mailbox);
  for (const auto& id : ids) paths.push_back(user_path + "/contacts/" + http::form_encode(id));
  auto answers = co_await batch_get(mailbox, "batch_get", paths);
  if (!answers) co_return Fail{std::move(answers).error()};
  // A throttled sub-request fails the call, with the longest wait any asked for: the engine waits
  // and asks again for the whole slice, as for a single request.
  std::optional<RemoteError> throttled;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& a = (*answers)[i];
    if (a.status == 200 && a.body.is_object()) {
      auto item = contact_from_graph(a.body.as_object());
      if (item && item->ref.id != ids[i])
        co_return Fail{refused_answer(mailbox, "batch_get", a.request_id, "asked for contact " + ids[i] + ", got " + item->ref.id)};
      if (item)
        out.items.push_back(std::move(*item));
      else
        out.refused.push_back({ids[i], "InvalidContact", item.error()});
      continue;
    }
    auto error = sub_error(a);
    if (error.kind == RemoteErrorKind::item_not_found) continue;  // its deletion arrives by delta
    if (error.kind == RemoteErrorKind::throttled) {
      if (!throttled || throttled->retry_after < error.retry_after) throttled = std::move(error);
      continue;
    }
    co_return Fail{std::move(error)};
  }
  if (throttled) co_return Fail{std::move(*throttled)};
  co_return out;
}

Task<Result<model::RemoteRef, RemoteError>> GraphService::create(const std::string& mailbox, model::FolderKind folder,
                                                                  const model::ItemPayload& item,
                                                                  const std::string& local_id, bool notify) {
  if (const auto* event = std::get_if<model::Event>(&item); event && folder == model::FolderKind::calendar)
    co_return co_await create_event(mailbox, *event, local_id, notify);
  const auto* contact = std::get_if<model::Contact>(&item);
  if (folder != model::FolderKind::contacts || !contact)
    co_return Fail{RemoteError{RemoteErrorKind::setup, "an item that is not of its folder", "", {}}};
  Call call;
  call.method = "POST";
  call.url = user_url(mailbox) + "/contactFolders/contacts/contacts";
  call.body = json::serialize(contact_create_body(*contact, local_id));
  call.retry_safe = false;
  auto resp = co_await send_call(mailbox, "create", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, "create", body.error())};
  auto created = contact_ref_from_graph(*body);
  if (!created) co_return Fail{refuse(*resp, mailbox, "create", created.error())};
  resp->connection.reuse();
  co_return std::move(*created);
}

Task<Result<model::RemoteMailboxService::CreateOutcomes, RemoteError>> GraphService::create_many(
    const std::string& mailbox, model::FolderKind folder, const std::vector<NewItem>& items) {
  if (items.size() > kBatchLimit || folder != model::FolderKind::contacts)
    co_return Fail{RemoteError{RemoteErrorKind::setup, "more items, or other items, than one $batch takes", "", {}}};
  std::vector<SubRequest> subs;
  const std::string path = "/users/" + http::form_encode(mailbox) + "/contactFolders/contacts/contacts";
  for (const auto& item : items) {
    const auto* contact = std::get_if<model::Contact>(&item.item);
    if (!contact) co_return Fail{RemoteError{RemoteErrorKind::setup, "an item that is not a contact", "", {}}};
    subs.push_back({"POST", path, contact_create_body(*contact, item.local_id)});
  }
  auto answers = co_await batch(mailbox, "create", subs);
  if (!answers) co_return Fail{std::move(answers).error()};
  CreateOutcomes out;
  std::optional<RemoteError> whole;
  for (std::size_t i = 0; i < answers->size(); ++i) {
    const auto& a = (*answers)[i];
    if (a.status != 201) {
      auto e = sub_error(a);
      // Throttling, or a refusal of the caller or the mailbox, is no item's own.
      if (!whole && model::concerns_whole_batch(e.kind)) whole = e;
      out.push_back(Fail{std::move(e)});
      continue;
    }
    auto created = a.body.is_object() ? contact_ref_from_graph(a.body.as_object())
                                      : Result<model::RemoteRef, std::string>(Fail{std::string("a created contact that is no object")});
    if (!created) {
      out.push_back(Fail{refused_answer(mailbox, "create", a.request_id, created.error())});
      continue;
    }
    out.push_back(std::move(*created));
  }
  // Some may have been created even so: their outcomes are known, and the caller records them.
  if (whole && std::none_of(out.begin(), out.end(), [](const auto& r) { return static_cast<bool>(r); }))
    co_return Fail{std::move(*whole)};
  co_return out;
}

Task<Result<std::optional<model::RemoteRef>, RemoteError>> GraphService::find_created(const std::string& mailbox,
                                                                                      model::FolderKind folder,
                                                                                      const std::string& local_id) {
  Call call;
  call.url = user_url(mailbox) +
             (folder == model::FolderKind::calendar ? "/calendar/events" : "/contactFolders/contacts/contacts") +
             "?$filter=" + http::form_encode(tag_filter(local_id)) +
             "&$select=id,changeKey";
  auto resp = co_await send_call(mailbox, "find", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto value = answer_list(*resp, mailbox, "find");
  if (!value) co_return Fail{std::move(value).error()};
  std::optional<model::RemoteRef> found;
  for (const auto& v : *value) {
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    const auto* id = o.if_contains("id");
    const auto* ck = o.if_contains("changeKey");
    if (id && id->is_string() && ck && ck->is_string() && !found)
      found = model::RemoteRef{std::string(id->as_string()), std::string(ck->as_string())};
  }
  resp->connection.reuse();
  co_return found;
}

Task<Result<model::RemoteRef, RemoteError>> GraphService::update(const std::string& mailbox,
                                                                  const model::RemoteRef& ref,
                                                                  const model::ItemPayload& before,
                                                                  const model::ItemPayload& after, bool overwrite,
                                                                  bool notify) {
  const auto* eb = std::get_if<model::Event>(&before);
  const auto* ea = std::get_if<model::Event>(&after);
  if (eb && ea) co_return co_await update_event(mailbox, ref, *eb, *ea, overwrite, notify);
  const auto* b = std::get_if<model::Contact>(&before);
  const auto* a = std::get_if<model::Contact>(&after);
  if (!a || !b) co_return Fail{RemoteError{RemoteErrorKind::setup, "an update from one kind of item to another", "", {}}};
  auto patch = contact_patch_body(*b, *a);
  if (patch.empty()) co_return ref;
  Call call;
  call.method = "PATCH";
  call.url = user_url(mailbox) + "/contacts/" + http::form_encode(ref.id);
  call.body = json::serialize(patch);
  call.retry_safe = false;
  if (!overwrite) call.headers.push_back({"If-Match", etag_of(ref)});
  auto resp = co_await send_call(mailbox, "update", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, "update", body.error())};
  auto updated = contact_from_graph(*body);
  if (!updated) co_return Fail{refuse(*resp, mailbox, "update", updated.error())};
  if (updated->ref.id != ref.id)
    co_return Fail{refuse(*resp, mailbox, "update", "updated contact " + ref.id + ", the answer is " + updated->ref.id)};
  resp->connection.reuse();
  co_return updated->ref;
}

Task<Result<Unit, RemoteError>> GraphService::remove(const std::string& mailbox, model::FolderKind folder,
                                                const model::RemoteRef& ref, bool) {
  Call call;
  call.method = "DELETE";
  call.url = user_url(mailbox) + (folder == model::FolderKind::calendar ? "/events/" : "/contacts/") +
             http::form_encode(ref.id);
  call.retry_safe = false;
  auto resp = co_await send_call(mailbox, "delete", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  if (resp->status != 204) co_return Fail{refuse(*resp, mailbox, "delete", "a delete answered " + std::to_string(resp->status))};
  resp->connection.reuse();
  co_return Unit{};
}

Task<Result<std::map<std::string, std::string>, RemoteError>> GraphService::translate_ids(
    const std::string& mailbox, const std::string& from, const std::vector<std::string>& ids) {
  if (from != "ews")
    co_return Fail{RemoteError{RemoteErrorKind::setup,
                               "the store holds ids of the \"" + from + "\" backend, which Graph cannot translate", "", {}}};
  constexpr std::size_t kPerRequest = 1000;  // translateExchangeIds' limit
  std::map<std::string, std::string> out;
  for (std::size_t at = 0; at < ids.size(); at += kPerRequest) {
    const auto end = std::min(ids.size(), at + kPerRequest);
    json::array input;
    std::set<std::string> asked;
    for (auto i = at; i < end; ++i) {
      input.emplace_back(ids[i]);
      asked.insert(ids[i]);
    }
    Call call;
    call.method = "POST";
    call.url = user_url(mailbox) + "/translateExchangeIds";
    call.body = json::serialize(json::object{
        {"inputIds", std::move(input)}, {"sourceIdType", "ewsId"}, {"targetIdType", "restImmutableEntryId"}});
    auto resp = co_await send_call(mailbox, "translate", std::move(call));
    if (!resp) co_return Fail{std::move(resp).error()};
    auto value = answer_list(*resp, mailbox, "translate");
    if (!value) co_return Fail{std::move(value).error()};
    std::map<std::string, std::string> got;
    for (const auto& v : *value) {
      const auto* o = v.if_object();
      const auto* source = o ? o->if_contains("sourceId") : nullptr;
      if (!source || !source->is_string() || !asked.contains(std::string(source->as_string())))
        co_return Fail{refuse(*resp, mailbox, "translate", "a translation of an id that was not asked")};
      const auto* target = o->if_contains("targetId");
      // An id Graph could not translate carries errorDetails instead: left out.
      if (target && target->is_string() && !target->as_string().empty())
        got.emplace(std::string(source->as_string()), std::string(target->as_string()));
    }
    resp->connection.reuse();
    out.merge(got);
  }
  co_return out;
}

Task<Result<std::vector<GraphService::TaggedMessage>, RemoteError>> GraphService::tagged_messages(
    const std::string& mailbox, const std::string& local_id) {
  // The whole mailbox: a message is a draft, in the Outbox or in Sent Items as its send goes on.
  Call call;
  call.url = user_url(mailbox) + "/messages?$filter=" + http::form_encode(tag_filter(local_id)) + "&$select=id,isDraft";
  auto resp = co_await send_call(mailbox, "find_message", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto value = answer_list(*resp, mailbox, "find_message");
  if (!value) co_return Fail{std::move(value).error()};
  std::vector<TaggedMessage> out;
  for (const auto& v : *value) {
    const auto* o = v.if_object();
    const auto* id = o ? o->if_contains("id") : nullptr;
    const auto* draft = o ? o->if_contains("isDraft") : nullptr;
    if (!id || !id->is_string() || !draft || !draft->is_bool())
      co_return Fail{refuse(*resp, mailbox, "find_message", "a message without id and isDraft")};
    out.push_back({std::string(id->as_string()), draft->as_bool()});
  }
  resp->connection.reuse();
  co_return out;
}

Task<Result<Unit, RemoteError>> GraphService::upload_attachment(const std::string& mailbox,
                                                                const std::string& message_id,
                                                                const model::Attachment& attachment,
                                                                const std::string& bytes) {
  Call session;
  session.method = "POST";
  session.url = user_url(mailbox) + "/messages/" + http::form_encode(message_id) + "/attachments/createUploadSession";
  session.body = json::serialize(json::object{
      {"AttachmentItem", json::object{{"attachmentType", "file"},
                                      {"name", attachment.name},
                                      {"contentType", attachment.content_type},
                                      {"size", static_cast<std::int64_t>(bytes.size())}}}});
  session.retry_safe = false;
  auto resp = co_await send_call(mailbox, "upload_session", std::move(session));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto body = parse_object(resp->body);
  if (!body) co_return Fail{refuse(*resp, mailbox, "upload_session", body.error())};
  const auto* url = body->if_contains("uploadUrl");
  auto parsed = url && url->is_string() ? urls::parse_uri(url->as_string()) : urls::parse_uri("");
  if (!parsed || parsed->scheme_id() != urls::scheme::https)
    co_return Fail{refuse(*resp, mailbox, "upload_session", "an upload session without an https uploadUrl")};
  const std::string upload_url(url->as_string());
  resp->connection.reuse();
  // The URL carries its own authorisation: no token goes with the chunks.
  constexpr std::size_t kChunk = 10 * 320 * 1024;  // a multiple of 320 KiB, under 4 MB
  for (std::size_t at = 0; at < bytes.size(); at += kChunk) {
    const auto n = std::min(kChunk, bytes.size() - at);
    http::Request put;
    put.method = "PUT";
    put.url = upload_url;
    put.retry_safe = false;
    put.headers = {{"Content-Type", "application/octet-stream"},
                   {"Content-Range", "bytes " + std::to_string(at) + "-" + std::to_string(at + n - 1) + "/" +
                                         std::to_string(bytes.size())}};
    put.body = bytes.substr(at, n);
    auto chunk = co_await client_.send(std::move(put));
    if (!chunk) co_return Fail{remote::from_http_error(chunk.error())};
    if (chunk->status < 200 || chunk->status >= 300) {
      auto error = error_for_graph_response(chunk->status, chunk->body, chunk->header("Retry-After"));
      error.request_id = chunk->request_id;
      co_return Fail{std::move(error)};
    }
    chunk->connection.reuse();
  }
  co_return Unit{};
}

Task<Result<bool, RemoteError>> GraphService::draft_complete(const std::string& mailbox, const std::string& draft_id,
                                                             const model::OutgoingMessage& message) {
  Call call;
  call.url = user_url(mailbox) + "/messages/" + http::form_encode(draft_id) + "/attachments?$select=name,size";
  auto resp = co_await send_call(mailbox, "draft_attachments", std::move(call));
  if (!resp) co_return Fail{std::move(resp).error()};
  auto value = answer_list(*resp, mailbox, "draft_attachments");
  if (!value) co_return Fail{std::move(value).error()};
  std::multiset<std::string> held, wanted;
  for (const auto& a : *value)
    if (const auto* o = a.if_object(); o && o->contains("name") && o->at("name").is_string())
      held.insert(std::string(o->at("name").as_string()));
  for (const auto& a : message.attachments) wanted.insert(a.name);
  resp->connection.reuse();
  co_return held == wanted;
}

Task<Result<Unit, RemoteError>> GraphService::send_draft(const std::string& mailbox, const std::string& draft_id) {
  Call send;
  send.method = "POST";
  send.url = user_url(mailbox) + "/messages/" + http::form_encode(draft_id) + "/send";
  send.retry_safe = false;
  auto sent = co_await send_call(mailbox, "send", std::move(send));
  if (!sent) co_return Fail{std::move(sent).error()};
  if (sent->status != 202)
    co_return Fail{refuse(*sent, mailbox, "send", "a send answered " + std::to_string(sent->status) + ", not 202")};
  sent->connection.reuse();
  co_return Unit{};
}

Task<Result<Unit, RemoteError>> GraphService::send(const std::string& mailbox, const model::OutgoingMessage& message) {
  // An earlier attempt may have got as far as a draft, or further. A message that is no longer a
  // draft went out: it is not sent again. A draft left behind with every attachment is sent
  // itself (one item is submitted once, however often it is asked: should the earlier send still
  // be under way, this one fails instead of sending a copy); one that lacks attachments goes, and
  // the message is built again.
  auto earlier = co_await tagged_messages(mailbox, message.local_id);
  if (!earlier) co_return Fail{std::move(earlier).error()};
  for (const auto& m : *earlier)
    if (!m.draft) co_return Unit{};
  bool sent = false;
  for (const auto& m : *earlier) {
    if (!sent) {
      auto complete = co_await draft_complete(mailbox, m.id, message);
      if (!complete && complete.error().kind != RemoteErrorKind::item_not_found) co_return Fail{std::move(complete).error()};
      if (complete && *complete) {
        auto again = co_await send_draft(mailbox, m.id);
        // Gone meanwhile: the earlier send took it on its way to Sent Items.
        if (again || again.error().kind == RemoteErrorKind::item_not_found) {
          sent = true;
          continue;
        }
        co_return Fail{std::move(again).error()};
      }
    }
    Call del;
    del.method = "DELETE";
    del.url = user_url(mailbox) + "/messages/" + http::form_encode(m.id);
    auto gone = co_await send_call(mailbox, "delete_draft", std::move(del));
    if (!gone && gone.error().kind != RemoteErrorKind::item_not_found) co_return Fail{std::move(gone).error()};
    if (gone) gone->connection.reuse();
  }
  if (sent) co_return Unit{};

  // Attachments of 3 MB and more, and any that would take the draft past Graph's 4 MB a request,
  // go through upload sessions once the draft exists.
  constexpr std::size_t kInlineLimit = 3u << 20;
  std::vector<std::size_t> inline_attachments;
  std::vector<std::pair<std::size_t, std::string>> uploads;  // index, bytes
  std::size_t inline_bytes = 0;
  for (std::size_t i = 0; i < message.attachments.size(); ++i) {
    const auto& a = message.attachments[i];
    if (inline_bytes + a.content_base64.size() < kInlineLimit) {
      inline_bytes += a.content_base64.size();
      inline_attachments.push_back(i);
      continue;
    }
    auto bytes = crypto::base64_decode(a.content_base64);
    if (!bytes) {
      RemoteError e{RemoteErrorKind::invalid_item, "attachment " + a.name + " is not valid Base64", "InvalidAttachment", {}};
      e.answered = true;
      co_return Fail{std::move(e)};
    }
    uploads.emplace_back(i, std::move(*bytes));
  }
  Call draft;
  draft.method = "POST";
  draft.url = user_url(mailbox) + "/messages";
  draft.body = json::serialize(message_draft_body(message, inline_attachments));
  draft.retry_safe = false;
  auto made = co_await send_call(mailbox, "draft", std::move(draft));
  if (!made) co_return Fail{std::move(made).error()};
  auto body = parse_object(made->body);
  if (!body) co_return Fail{refuse(*made, mailbox, "draft", body.error())};
  const auto* id = body->if_contains("id");
  if (!id || !id->is_string() || id->as_string().empty())
    co_return Fail{refuse(*made, mailbox, "draft", "a draft without an id")};
  const std::string draft_id(id->as_string());
  made->connection.reuse();
  for (const auto& [index, bytes] : uploads) {
    auto up = co_await upload_attachment(mailbox, draft_id, message.attachments[index], bytes);
    if (!up) co_return Fail{std::move(up).error()};
  }
  co_return co_await send_draft(mailbox, draft_id);
}

Task<Result<bool, RemoteError>> GraphService::find_sent(const std::string& mailbox, const std::string& local_id) {
  auto found = co_await tagged_messages(mailbox, local_id);
  if (!found) co_return Fail{std::move(found).error()};
  co_return std::any_of(found->begin(), found->end(), [](const TaggedMessage& m) { return !m.draft; });
}

}  // namespace exsync::graph
