// Parsers for EWS responses: SOAP faults, response messages, SyncFolderItems and GetItem.
//
// Every parser first checks that the answer is the one to its request: the response element is
// the operation's (GetItemResponse for GetItem), it holds one response message per item or folder
// asked, and GetItem's and UpdateItem's items are the ones asked for. An answer that fails these
// checks is `mismatched_answer`, never data: a server that answered a request twice, or a proxy
// out of step, would otherwise put one request's (one mailbox's) answer into another's.
// An error the server states itself (a ResponseCode, a SOAP fault) has `answered` set.
//
// Elements are matched by namespace URI and local name, never by prefix: Exchange Online,
// Exchange Server 2007..2019 and other servers use different prefixes (s:/soap:/soap11:, m:, t:,
// default namespaces). Unknown elements are ignored. Documents with a DTD are refused.
// Thread-safety: free functions.
#pragma once

#include <string_view>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::ews {

// Maps an EWS ResponseCode to how the engine should treat it.
model::RemoteErrorKind kind_for_response_code(std::string_view code);

// Interprets a response whose HTTP status is not 200 (faults come with HTTP 500; throttling
// also as 503/429 with Retry-After, passed in `retry_after_header`).
model::RemoteError error_for_http_response(int status, std::string_view body, std::string_view retry_after_header);

// A SyncFolderItems response: created/updated/deleted ids and the next SyncState. Changes of
// other item classes in the folder (distribution lists) and read-flag changes are left out.
Result<model::ChangePage, model::RemoteError> parse_sync_folder_items(std::string_view xml);

// A GetItem response of contacts or calendar items, for the item ids `asked` in request order.
// Items answered with ErrorItemNotFound are left out (deleted since the sync), those answered
// ErrorBatchProcessingStopped are `unanswered`, and those the server refuses on their own
// (ErrorCorruptData, ErrorInvalidPropertyRequest, ErrorInternalServerError, ...) are `refused`.
// A per-item error that is not the item's fails the whole response: throttling, access or
// impersonation refused, a mailbox that does not exist.
Result<model::FetchedItems, model::RemoteError> parse_get_item(std::string_view xml,
                                                               const std::vector<std::string>& asked);

// A CreateItem or UpdateItem (`operation`) response of one item: the written item's ItemId and
// new ChangeKey; for an update, `updated_id` is the item's id, which the answer must name.
// Errors: conflict (ErrorIrresolvableConflict), item_not_found, invalid_item, ...
Result<model::RemoteRef, model::RemoteError> parse_written_item(std::string_view xml, std::string_view operation,
                                                                std::string_view updated_id = {});

// A CreateItem response to a request of `asked` items: one outcome each, in the request's order
// (another number of response messages: mismatched_answer). An item's own error is its outcome;
// throttling or a refusal of the caller or the mailbox fails the whole response.
Result<std::vector<Result<model::RemoteRef, model::RemoteError>>, model::RemoteError> parse_created_items(
    std::string_view xml, std::size_t asked);

// A response to `operation` whose success carries nothing but NoError (DeleteItem; CreateItem
// with SendAndSaveCopy). Errors: item_not_found when a deleted item was already gone, ...
Result<Unit, model::RemoteError> parse_no_content(std::string_view xml, std::string_view operation);

// GetFolder: the folder's TotalCount.
Result<std::int64_t, model::RemoteError> parse_folder_total(std::string_view xml);

// A FindItem response: the ids found.
Result<std::vector<model::RemoteRef>, model::RemoteError> parse_find_item(std::string_view xml);

}  // namespace exsync::ews
