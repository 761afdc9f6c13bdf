#include "exsync/ews/ews_service.hpp"

#include <algorithm>

#include "exsync/ews/requests.hpp"
#include "exsync/ews/responses.hpp"
#include "exsync/ews/write_requests.hpp"
#include "exsync/log/log.hpp"

namespace exsync::ews {

using model::RemoteError;
using model::RemoteErrorKind;

EwsService::EwsService(http::Client& client, auth::TokenSource& tokens, EwsSettings settings,
                       net::thread_pool* parser)
    : client_(client), tokens_(tokens), settings_(std::move(settings)), parser_(parser) {}

Task<Result<std::string, RemoteError>> EwsService::call(const std::string& mailbox, std::string_view operation,
                                                        std::string envelope) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto token = co_await tokens_.access_token();
    if (!token) {
      co_return Fail{RemoteError{RemoteErrorKind::auth,
                                 std::string(auth::auth_error_kind_name(token.error().kind)) + ": " +
                                     token.error().description,
                                 "", {}}};
    }
    http::Request req;
    req.url = settings_.url;
    // Reads may be sent again after a lost connection; a write must not (it may have been done).
    req.retry_safe = operation == "SyncFolderItems" || operation == "GetItem" || operation == "FindItem" ||
                     operation == "GetFolder";
    req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                   {"Authorization", std::string(tokens_.scheme()) + " " + *token},
                   {"X-AnchorMailbox", mailbox}};
    req.body = envelope;
    auto resp = co_await client_.send(std::move(req));
    if (!resp) {
      auto kind = resp.error().kind;
      co_return Fail{RemoteError{RemoteErrorKind::network, resp.error().message,
                                 std::string(http::http_error_kind_name(kind)), {}}};
    }
    if (resp->status == 200) co_return std::move(resp->body);
    if (resp->status == 401 && attempt == 0) {
      log::info("ews.token.rejected", {{"mailbox", mailbox}, {"operation", operation}});
      tokens_.reject(*token);
      continue;
    }
    co_return Fail{error_for_http_response(resp->status, resp->body, resp->header("Retry-After"))};
  }
  co_return Fail{RemoteError{RemoteErrorKind::unauthorized, "the server refused a fresh access token", "", {}}};
}

Task<Result<model::ChangePage, RemoteError>> EwsService::changes(const std::string& mailbox, model::FolderKind folder,
                                                                 const std::string& cursor, int max_changes) {
  ++stats_.sync_requests;
  auto body = co_await call(mailbox, "SyncFolderItems",
                            sync_folder_items_request(target(mailbox), folder, cursor, max_changes));
  if (!body) co_return Fail{std::move(body).error()};
  co_return parse_sync_folder_items(*body);
}

Task<Result<std::int64_t, RemoteError>> EwsService::count(const std::string& mailbox, model::FolderKind folder) {
  auto body = co_await call(mailbox, "GetFolder", get_folder_request(target(mailbox), folder));
  if (!body) co_return Fail{std::move(body).error()};
  co_return parse_folder_total(*body);
}

Task<Result<std::vector<model::RemoteItem>, RemoteError>> EwsService::fetch(const std::string& mailbox,
                                                                            model::FolderKind folder,
                                                                            const std::vector<std::string>& ids) {
  std::vector<model::RemoteItem> out;
  out.reserve(ids.size());
  const auto batch = static_cast<std::size_t>(std::max(1, settings_.get_item_batch_size));
  for (std::size_t i = 0; i < ids.size(); i += batch) {
    std::vector<std::string> slice(ids.begin() + i, ids.begin() + std::min(ids.size(), i + batch));
    ++stats_.get_item_requests;
    auto body = co_await call(mailbox, "GetItem", get_item_request(target(mailbox), folder, slice));
    if (!body) co_return Fail{std::move(body).error()};
    Result<std::vector<model::RemoteItem>, RemoteError> items{std::vector<model::RemoteItem>{}};
    if (parser_) {
      const std::string& xml = *body;
      items = co_await run_blocking(*parser_, [&xml] { return parse_get_item(xml); });
    } else {
      items = parse_get_item(*body);
    }
    if (!items) co_return Fail{std::move(items).error()};
    for (auto& item : *items) out.push_back(std::move(item));
  }
  co_return out;
}

Task<Result<model::RemoteRef, RemoteError>> EwsService::create(const std::string& mailbox, model::FolderKind folder,
                                                               const model::ItemPayload& item,
                                                               const std::string& local_id, bool notify) {
  auto request = std::holds_alternative<model::Event>(item)
                     ? create_event_request(target(mailbox), std::get<model::Event>(item), local_id, notify)
                     : create_item_request(target(mailbox), folder, std::get<model::Contact>(item), local_id);
  if (request.empty())
    co_return Fail{RemoteError{RemoteErrorKind::invalid_item, "the event's time zone has no Exchange equivalent", "", {}}};
  auto body = co_await call(mailbox, "CreateItem", std::move(request));
  if (!body) co_return Fail{std::move(body).error()};
  co_return parse_written_item(*body);
}

Task<Result<std::optional<model::RemoteRef>, RemoteError>> EwsService::find_created(const std::string& mailbox,
                                                                                    model::FolderKind folder,
                                                                                    const std::string& local_id) {
  auto body = co_await call(mailbox, "FindItem", find_item_by_tag_request(target(mailbox), model::folder_name(folder), local_id));
  if (!body) co_return Fail{std::move(body).error()};
  auto refs = parse_find_item(*body);
  if (!refs) co_return Fail{std::move(refs).error()};
  if (refs->empty()) co_return std::optional<model::RemoteRef>();
  co_return std::optional<model::RemoteRef>(refs->front());
}

Task<Result<model::RemoteRef, RemoteError>> EwsService::update(const std::string& mailbox, const model::RemoteRef& ref,
                                                               const model::ItemPayload& before,
                                                               const model::ItemPayload& after, bool overwrite,
                                                               bool notify) {
  auto request = std::holds_alternative<model::Event>(after)
                     ? update_event_request(target(mailbox), ref, std::get<model::Event>(before), std::get<model::Event>(after),
                                            overwrite, notify)
                     : update_item_request(target(mailbox), ref, std::get<model::Contact>(before), std::get<model::Contact>(after),
                                           overwrite);
  if (request.empty()) co_return ref;  // nothing differs: nothing to send
  auto body = co_await call(mailbox, "UpdateItem", std::move(request));
  if (!body) co_return Fail{std::move(body).error()};
  co_return parse_written_item(*body);
}

Task<Result<Unit, RemoteError>> EwsService::remove(const std::string& mailbox, const model::RemoteRef& ref,
                                                   bool notify) {
  auto body = co_await call(mailbox, "DeleteItem", delete_item_request(target(mailbox), ref, notify));
  if (!body) co_return Fail{std::move(body).error()};
  co_return parse_no_content(*body);
}

Task<Result<Unit, RemoteError>> EwsService::send(const std::string& mailbox, const model::OutgoingMessage& message) {
  auto body = co_await call(mailbox, "CreateItem", send_message_request(target(mailbox), message));
  if (!body) co_return Fail{std::move(body).error()};
  // SendAndSaveCopy answers with an empty Items list: success is the NoError message.
  co_return parse_no_content(*body);
}

Task<Result<bool, RemoteError>> EwsService::find_sent(const std::string& mailbox, const std::string& local_id) {
  auto body = co_await call(mailbox, "FindItem", find_item_by_tag_request(target(mailbox), "sentitems", local_id));
  if (!body) co_return Fail{std::move(body).error()};
  auto refs = parse_find_item(*body);
  if (!refs) co_return Fail{std::move(refs).error()};
  co_return !refs->empty();
}

}  // namespace exsync::ews
