#include "exsync/ews/ews_service.hpp"

#include "exsync/core/waiter.hpp"

#include "exsync/remote/authorized_send.hpp"

#include <algorithm>

#include "exsync/ews/requests.hpp"
#include "exsync/ews/responses.hpp"
#include "exsync/ews/write_requests.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/occurrences.hpp"

namespace exsync::ews {

using model::RemoteError;
using model::RemoteErrorKind;

EwsService::EwsService(http::Client& client, auth::TokenSource& tokens, EwsSettings settings,
                       net::thread_pool* parser)
    : client_(client), tokens_(tokens), settings_(std::move(settings)), parser_(parser) {}

namespace {

// Reads may be sent again after a lost connection or an answer that was not theirs; a write must
// not (it may have been carried out), and the engine finds out instead.
bool retry_safe(std::string_view operation) {
  return operation == "SyncFolderItems" || operation == "GetItem" || operation == "FindItem" ||
         operation == "GetFolder";
}

RemoteError with_request_id(RemoteError e, const std::string& request_id) {
  if (e.request_id.empty()) e.request_id = request_id;
  return e;
}

}  // namespace

Task<Result<http::Response, RemoteError>> EwsService::call(const std::string& mailbox, std::string_view operation,
                                                           const std::string& envelope) {
  http::Request req;
  req.url = settings_.url;
  req.retry_safe = retry_safe(operation);
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"}, {"X-AnchorMailbox", mailbox}};
  req.body = envelope;
  auto resp = co_await remote::send_authorized(client_, tokens_, std::move(req), [&](const http::Response& r) {
    log::info("ews.token.rejected", {{"mailbox", mailbox}, {"operation", operation}, {"request_id", r.request_id}});
  });
  if (!resp) {
    const auto& e = resp.error();
    if (e.kind == RemoteErrorKind::mismatched_answer) {
      ++stats_.refused_answers;
      log::warn("ews.answer.refused", {{"mailbox", mailbox},
                                       {"operation", operation},
                                       {"kind", model::remote_error_kind_name(e.kind)},
                                       {"request_id", e.request_id},
                                       {"retried", false},
                                       {"message", e.message}});
    }
    co_return Fail{std::move(resp).error()};
  }
  if (resp->status == 200) co_return std::move(*resp);
  co_return Fail{with_request_id(error_for_http_response(resp->status, resp->body, resp->header("Retry-After")),
                                 resp->request_id)};
}

template <typename T, typename Parse>
Task<Result<T, RemoteError>> EwsService::exchange(const std::string& mailbox, std::string_view operation,
                                                  std::string envelope, Parse parse) {
  for (int attempt = 0;; ++attempt) {
    auto resp = co_await call(mailbox, operation, envelope);
    if (!resp) co_return Fail{std::move(resp).error()};
    Result<T, RemoteError> parsed = co_await parse(resp->body);
    if (parsed || (parsed.error().kind != RemoteErrorKind::mismatched_answer &&
                   parsed.error().kind != RemoteErrorKind::protocol)) {
      resp->connection.reuse();  // the answer is this request's: its connection is in step
      if (!parsed) co_return Fail{with_request_id(std::move(parsed).error(), resp->request_id)};
      co_return parsed;
    }
    // Not this request's answer, or none at all: the connection it came on is closed (every
    // later answer on it would be suspect), and a read that got another request's answer is
    // asked again, once.
    resp->connection.close();
    auto error = with_request_id(std::move(parsed).error(), resp->request_id);
    ++stats_.refused_answers;
    const bool again = attempt == 0 && retry_safe(operation) && error.kind == RemoteErrorKind::mismatched_answer;
    log::warn("ews.answer.refused", {{"mailbox", mailbox},
                                     {"operation", operation},
                                     {"kind", model::remote_error_kind_name(error.kind)},
                                     {"request_id", error.request_id},
                                     {"retried", again},
                                     {"message", error.message}});
    if (again) continue;
    co_return Fail{std::move(error)};
  }
}

// A server that does not answer a property it was asked for (gromox answers contacts' email
// addresses, phone numbers and postal addresses only when asked entry by entry) looks like
// contacts without them. A batch where not one contact has any of them is most likely that:
// said once per mailbox and folder, rather than stored as a silent blank.
void EwsService::note_absent_properties(const std::string& mailbox, model::FolderKind folder,
                                        const std::vector<model::RemoteItem>& items) {
  constexpr std::size_t kEnough = 10;
  if (items.size() < kEnough) return;
  for (const auto& item : items) {
    const auto* c = std::get_if<model::Contact>(&item.payload);
    if (!c || !c->emails.empty() || !c->phones.empty() || !c->addresses.empty()) return;
  }
  if (!absent_noted_.insert(mailbox + "|" + std::string(model::folder_name(folder))).second) return;
  log::warn("ews.property.absent", {{"mailbox", mailbox},
                                    {"folder", model::folder_name(folder)},
                                    {"items", static_cast<std::int64_t>(items.size())},
                                    {"properties", "EmailAddresses,PhoneNumbers,PhysicalAddresses"}});
}

// A parser run on the network thread, as exchange() wants it.
template <typename F>
auto inline_parse(F f) {
  return [f = std::move(f)](const std::string& body) -> Task<decltype(f(body))> { co_return f(body); };
}

Task<Result<model::ChangePage, RemoteError>> EwsService::changes(const std::string& mailbox, model::FolderKind folder,
                                                                 const std::string& cursor, int max_changes) {
  ++stats_.sync_requests;
  co_return co_await exchange<model::ChangePage>(
      mailbox, "SyncFolderItems", sync_folder_items_request(target(mailbox), folder, cursor, max_changes),
      inline_parse([](const std::string& xml) { return parse_sync_folder_items(xml); }));
}

Task<Result<std::int64_t, RemoteError>> EwsService::count(const std::string& mailbox, model::FolderKind folder) {
  co_return co_await exchange<std::int64_t>(mailbox, "GetFolder", get_folder_request(target(mailbox), folder),
                                            inline_parse([](const std::string& xml) { return parse_folder_total(xml); }));
}

Task<Result<model::FetchedItems, RemoteError>> EwsService::fetch(const std::string& mailbox,
                                                                            model::FolderKind folder,
                                                                            const std::vector<std::string>& ids) {
  model::FetchedItems out;
  out.items.reserve(ids.size());
  const auto batch = fetch_limit();
  for (std::size_t i = 0; i < ids.size(); i += batch) {
    std::vector<std::string> slice(ids.begin() + i, ids.begin() + std::min(ids.size(), i + batch));
    ++stats_.get_item_requests;
    using Items = model::FetchedItems;
    auto parse = [this, &slice](const std::string& xml) -> Task<Result<Items, RemoteError>> {
      if (!parser_) co_return parse_get_item(xml, slice);
      co_return co_await run_blocking(*parser_, [&xml, &slice] { return parse_get_item(xml, slice); });
    };
    auto got = co_await exchange<Items>(mailbox, "GetItem", get_item_request(target(mailbox), folder, slice), parse);
    if (!got) co_return Fail{std::move(got).error()};
    note_absent_properties(mailbox, folder, got->items);
    for (auto& item : got->items) out.items.push_back(std::move(item));
    for (auto& r : got->refused) out.refused.push_back(std::move(r));
    for (auto& id : got->unanswered) out.unanswered.push_back(std::move(id));
  }
  if (folder == model::FolderKind::calendar) {
    if (auto read = co_await read_occurrences(mailbox, out.items); !read) co_return Fail{std::move(read).error()};
  }
  co_return out;
}

Task<Result<Unit, RemoteError>> EwsService::read_occurrences(const std::string& mailbox,
                                                             std::vector<model::RemoteItem>& items) {
  // ModifiedOccurrences carries an occurrence's times only: its own subject, location and the
  // rest are on its own item, read by its ItemId as any calendar item is.
  std::vector<std::string> ids;
  for (const auto& item : items)
    if (const auto* e = std::get_if<model::Event>(&item.payload))
      for (const auto& m : e->modified_occurrences)
        if (!m.ews_id.empty()) ids.push_back(m.ews_id);
  std::map<std::string, model::Event> own;
  const auto batch = fetch_limit();
  for (std::size_t i = 0; i < ids.size(); i += batch) {
    std::vector<std::string> slice(ids.begin() + i, ids.begin() + std::min(ids.size(), i + batch));
    // A throttled read is asked again here, after the server's wait, rather than failing the
    // fetch: the series' own read succeeded, and asking for it again would cost another request
    // under the same budget.
    constexpr int kAttempts = 8;
    Result<model::FetchedItems, RemoteError> got = Fail{RemoteError{RemoteErrorKind::server, "not asked", "", {}}};
    for (int attempt = 1;; ++attempt) {
      ++stats_.get_item_requests;
      got = co_await exchange<model::FetchedItems>(
          mailbox, "GetItem", get_item_request(target(mailbox), model::FolderKind::calendar, slice),
          inline_parse([&slice](const std::string& xml) { return parse_get_item(xml, slice); }));
      if (got || got.error().kind != RemoteErrorKind::throttled || attempt == kAttempts) break;
      co_await AsioWaiter::instance().wait(std::max(got.error().retry_after, std::chrono::milliseconds(100)) *
                                           attempt);
    }
    if (!got) co_return Fail{std::move(got).error()};
    for (auto& item : got->items)
      if (auto* e = std::get_if<model::Event>(&item.payload)) own.emplace(item.ref.id, std::move(*e));
  }
  // An occurrence the mailbox would not hand over keeps the series' details (absent).
  for (auto& item : items) {
    auto* e = std::get_if<model::Event>(&item.payload);
    if (!e) continue;
    for (auto& m : e->modified_occurrences) {
      auto it = own.find(m.ews_id);
      if (it == own.end()) continue;
      const auto& o = it->second;
      m.details = model::OccurrenceDetails{o.subject, o.location, o.body, o.time_zone, o.attendees, o.reminder_minutes,
                                           o.free_busy};
    }
  }
  co_return Unit{};
}

std::size_t EwsService::fetch_limit() const {
  return static_cast<std::size_t>(std::max(1, settings_.get_item_batch_size));
}

Task<Result<model::RemoteRef, RemoteError>> EwsService::create(const std::string& mailbox, model::FolderKind folder,
                                                               const model::ItemPayload& item,
                                                               const std::string& local_id, bool notify) {
  auto request = std::holds_alternative<model::Event>(item)
                     ? create_event_request(target(mailbox), std::get<model::Event>(item), local_id, notify)
                     : create_item_request(target(mailbox), folder, std::get<model::Contact>(item), local_id);
  if (request.empty())
    co_return Fail{RemoteError{RemoteErrorKind::invalid_item, "the event's time zone has no Exchange equivalent", "", {}}};
  auto created = co_await exchange<model::RemoteRef>(
      mailbox, "CreateItem", std::move(request),
      inline_parse([](const std::string& xml) { return parse_written_item(xml, "CreateItem"); }));
  const auto* event = std::get_if<model::Event>(&item);
  if (!created || !event || (event->modified_occurrences.empty() && event->deleted_occurrences.empty())) co_return created;
  // A series the CRM changed before it reached the mailbox (a deleted one created again) takes
  // its changed and cancelled occurrences after it exists.
  const auto plain = model::without_occurrences(*event);
  co_return co_await update_event(mailbox, *created, plain, *event, true, notify);
}

Task<Result<model::RemoteMailboxService::CreateOutcomes, RemoteError>> EwsService::create_many(
    const std::string& mailbox, model::FolderKind folder, const std::vector<NewItem>& items) {
  if (items.size() > kCreateBatch || folder != model::FolderKind::contacts)
    co_return Fail{RemoteError{RemoteErrorKind::setup, "more items, or other items, than one CreateItem takes", "", {}}};
  auto request = create_items_request(target(mailbox), folder, items);
  if (request.empty()) co_return Fail{RemoteError{RemoteErrorKind::setup, "an item that is not a contact", "", {}}};
  const std::size_t asked = items.size();
  co_return co_await exchange<CreateOutcomes>(
      mailbox, "CreateItem", std::move(request),
      inline_parse([asked](const std::string& xml) { return parse_created_items(xml, asked); }));
}

Task<Result<std::optional<model::RemoteRef>, RemoteError>> EwsService::find_created(const std::string& mailbox,
                                                                                    model::FolderKind folder,
                                                                                    const std::string& local_id) {
  auto refs = co_await exchange<std::vector<model::RemoteRef>>(
      mailbox, "FindItem", find_item_by_tag_request(target(mailbox), model::folder_name(folder), local_id),
      inline_parse([](const std::string& xml) { return parse_find_item(xml); }));
  if (!refs) co_return Fail{std::move(refs).error()};
  if (refs->empty()) co_return std::optional<model::RemoteRef>();
  co_return std::optional<model::RemoteRef>(refs->front());
}

Task<Result<model::RemoteRef, RemoteError>> EwsService::update(const std::string& mailbox, const model::RemoteRef& ref,
                                                               const model::ItemPayload& before,
                                                               const model::ItemPayload& after, bool overwrite,
                                                               bool notify) {
  if (std::holds_alternative<model::Event>(after))
    co_return co_await update_event(mailbox, ref, std::get<model::Event>(before), std::get<model::Event>(after), overwrite,
                                    notify);
  auto request =
      update_item_request(target(mailbox), ref, std::get<model::Contact>(before), std::get<model::Contact>(after), overwrite);
  if (request.empty()) co_return ref;  // nothing differs: nothing to send
  co_return co_await exchange<model::RemoteRef>(
      mailbox, "UpdateItem", std::move(request),
      inline_parse([&ref](const std::string& xml) { return parse_written_item(xml, "UpdateItem", ref.id); }));
}

// The series' (or event's) own fields first, with its change key; then each occurrence the CRM
// changed or cancelled, addressed as EWS wants it; then the series' change key as the mailbox
// holds it after them. Occurrences have no change key of their own: unless `overwrite`, the
// series' is checked before the first of them when the series itself had nothing to write.
Task<Result<model::RemoteRef, RemoteError>> EwsService::update_event(const std::string& mailbox,
                                                                     const model::RemoteRef& ref,
                                                                     const model::Event& before,
                                                                     const model::Event& after, bool overwrite,
                                                                     bool notify) {
  auto request = update_event_request(target(mailbox), ref, before, after, overwrite, notify);
  const auto occurrences = model::occurrence_writes(before, after);
  model::RemoteRef now = ref;
  if (!request.empty()) {
    auto written = co_await exchange<model::RemoteRef>(
        mailbox, "UpdateItem", std::move(request),
        inline_parse([&ref](const std::string& xml) { return parse_written_item(xml, "UpdateItem", ref.id); }));
    if (!written) co_return Fail{std::move(written).error()};
    now = *written;
  }
  if (occurrences.empty()) co_return now;
  if (request.empty() && !overwrite) {
    auto current = co_await series_ref(mailbox, ref.id);
    if (!current) co_return Fail{std::move(current).error()};
    if (current->change_key != ref.change_key)
      co_return Fail{RemoteError{RemoteErrorKind::conflict, "the series changed in the mailbox since it was read", "", {}}};
  }
  for (const auto& o : occurrences) {
    const OccurrenceRef at{o.own_id, ref.id, o.instance_index};
    if (o.cancel) {
      auto done = co_await exchange<Unit>(
          mailbox, "DeleteItem", delete_occurrence_request(target(mailbox), at, notify),
          inline_parse([](const std::string& xml) { return parse_no_content(xml, "DeleteItem"); }));
      // Cancelled already (by an earlier attempt whose answer was lost): what was wanted holds.
      if (!done && done.error().kind != RemoteErrorKind::item_not_found) co_return Fail{std::move(done).error()};
      continue;
    }
    auto change = update_occurrence_request(target(mailbox), at, o.was, o.becomes, notify);
    if (change.empty()) continue;
    auto done = co_await exchange<Unit>(mailbox, "UpdateItem", std::move(change), inline_parse([](const std::string& xml) {
                                          return parse_no_content(xml, "UpdateItem");
                                        }));
    if (!done) co_return Fail{std::move(done).error()};
  }
  co_return co_await series_ref(mailbox, ref.id);
}

// The series' id and change key as the mailbox holds them now.
Task<Result<model::RemoteRef, RemoteError>> EwsService::series_ref(const std::string& mailbox, const std::string& id) {
  const std::vector<std::string> ids{id};
  auto got = co_await exchange<model::FetchedItems>(
      mailbox, "GetItem", get_item_request(target(mailbox), model::FolderKind::calendar, ids),
      inline_parse([&ids](const std::string& xml) { return parse_get_item(xml, ids); }));
  if (!got) co_return Fail{std::move(got).error()};
  if (got->items.empty())
    co_return Fail{RemoteError{RemoteErrorKind::item_not_found, "the series is no longer in the mailbox", "", {}}};
  co_return got->items.front().ref;
}

Task<Result<Unit, RemoteError>> EwsService::remove(const std::string& mailbox, model::FolderKind, const model::RemoteRef& ref,
                                                   bool notify) {
  co_return co_await exchange<Unit>(mailbox, "DeleteItem", delete_item_request(target(mailbox), ref, notify),
                                    inline_parse([](const std::string& xml) { return parse_no_content(xml, "DeleteItem"); }));
}

Task<Result<Unit, RemoteError>> EwsService::send(const std::string& mailbox, const model::OutgoingMessage& message) {
  // SendAndSaveCopy answers with an empty Items list: success is the NoError message.
  co_return co_await exchange<Unit>(mailbox, "CreateItem", send_message_request(target(mailbox), message),
                                    inline_parse([](const std::string& xml) { return parse_no_content(xml, "CreateItem"); }));
}

Task<Result<std::map<std::string, std::string>, RemoteError>> EwsService::translate_ids(
    const std::string&, const std::string& from, const std::vector<std::string>&) {
  co_return Fail{RemoteError{RemoteErrorKind::setup,
                             "the store holds ids of the \"" + from +
                                 "\" backend, which EWS cannot translate: a tenant cannot go back from Graph to EWS "
                                 "on the same store (README, \"Choosing EWS or Graph\")",
                             "", {}}};
}

Task<Result<bool, RemoteError>> EwsService::find_sent(const std::string& mailbox, const std::string& local_id) {
  auto refs = co_await exchange<std::vector<model::RemoteRef>>(
      mailbox, "FindItem", find_item_by_tag_request(target(mailbox), "sentitems", local_id),
      inline_parse([](const std::string& xml) { return parse_find_item(xml); }));
  if (!refs) co_return Fail{std::move(refs).error()};
  co_return !refs->empty();
}

}  // namespace exsync::ews
