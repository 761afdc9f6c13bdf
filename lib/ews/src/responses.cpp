#include "exsync/ews/responses.hpp"

#include <cstdlib>
#include <optional>

#include "contact_xml.hpp"
#include "event_xml.hpp"
#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/notifications.hpp"
#include "exsync/ews/xml.hpp"

namespace exsync::ews {
namespace {

using model::RemoteError;
using model::RemoteErrorKind;

RemoteError protocol_error(std::string message) { return {RemoteErrorKind::protocol, std::move(message), "", {}}; }

// An answer that is well-formed EWS but not the answer to the request that was sent.
RemoteError mismatch(std::string message) {
  return {RemoteErrorKind::mismatched_answer, std::move(message), "", {}};
}

// BackOffMilliseconds travels in MessageXml/Value[@Name] (response messages and fault details).
std::chrono::milliseconds back_off(const pugi::xml_node& message_xml) {
  for (auto v = message_xml.first_child(); v; v = v.next_sibling()) {
    if (is_element(v, kTypesNs, "Value") && std::string_view(v.attribute("Name").value()) == "BackOffMilliseconds")
      return std::chrono::milliseconds(std::atoll(v.text().get()));
  }
  return std::chrono::milliseconds(0);
}

// The server's own refusal of the request: its outcome is known.
RemoteError error_for_code(std::string code, std::string text, std::chrono::milliseconds backoff) {
  RemoteError e{kind_for_response_code(code), std::move(text), std::move(code), backoff};
  if (e.message.empty()) e.message = e.code;
  e.answered = true;
  return e;
}

std::optional<RemoteError> fault_error(const pugi::xml_node& fault) {
  std::string code;
  std::string text = fault.child("faultstring").text().get();
  std::chrono::milliseconds backoff{0};
  if (auto detail = fault.child("detail")) {
    code = child_text(detail, kErrorsNs, "ResponseCode");
    if (auto msg = child_text(detail, kErrorsNs, "Message"); !msg.empty()) text = msg;
    if (auto mx = child(detail, kTypesNs, "MessageXml")) backoff = back_off(mx);
  }
  if (code.empty()) {
    // "a:ErrorServerBusy", "soap11:Client": the local part of the QName.
    std::string_view fc = fault.child("faultcode").text().get();
    auto colon = fc.find(':');
    code = std::string(colon == std::string_view::npos ? fc : fc.substr(colon + 1));
  }
  return error_for_code(std::move(code), std::move(text), backoff);
}

// Parses the envelope and returns the element inside Body (the operation's response), or the
// error a Fault carries. The element must be `operation`'s response ("GetItem" answers with
// GetItemResponse): any other is an answer to another request.
Result<pugi::xml_node, RemoteError> response_element(pugi::xml_document& doc, std::string_view xml,
                                                     std::string_view operation) {
  std::string problem;
  if (!parse_document(doc, xml, problem)) return Fail{protocol_error(problem)};
  auto env = doc.document_element();
  if (!is_element(env, kSoapNs, "Envelope")) return Fail{protocol_error("not a SOAP envelope")};
  auto body = child(env, kSoapNs, "Body");
  if (!body) return Fail{protocol_error("SOAP envelope without Body")};
  if (auto fault = child(body, kSoapNs, "Fault")) return Fail{*fault_error(fault)};
  auto op = body.find_child([](const pugi::xml_node& n) { return n.type() == pugi::node_element; });
  if (!op || namespace_uri(op) != kMessagesNs) return Fail{protocol_error("SOAP Body without an EWS response")};
  const auto name = local_name(op);
  if (name.size() != operation.size() + 8 || name.substr(0, operation.size()) != operation ||
      name.substr(operation.size()) != "Response")
    return Fail{mismatch("a " + std::string(name) + " answered " + std::string(operation))};
  return op;
}

struct MessageStatus {
  bool ok;
  RemoteError error;
};

MessageStatus message_status(const pugi::xml_node& msg) {
  std::string_view cls = msg.attribute("ResponseClass").value();
  std::string code = child_text(msg, kMessagesNs, "ResponseCode");
  if (cls != "Error" && (code.empty() || code == "NoError")) return {true, {}};
  std::chrono::milliseconds backoff{0};
  if (auto mx = child(msg, kMessagesNs, "MessageXml")) backoff = back_off(mx);
  return {false, error_for_code(code, child_text(msg, kMessagesNs, "MessageText"), backoff)};
}

template <typename F>
void for_each_message(const pugi::xml_node& op, F&& fn) {
  auto messages = child(op, kMessagesNs, "ResponseMessages");
  for (auto m = messages.first_child(); m; m = m.next_sibling()) {
    if (m.type() == pugi::node_element && namespace_uri(m) == kMessagesNs) fn(m);
  }
}

// EWS answers one response message per item (or folder) asked, in the request's order: any
// other number means the answer is not to this request.
std::optional<RemoteError> check_message_count(const pugi::xml_node& op, std::string_view operation,
                                               std::size_t expected) {
  std::size_t n = 0;
  for_each_message(op, [&](const pugi::xml_node&) { ++n; });
  if (n == expected) return std::nullopt;
  return mismatch(std::string(operation) + " asked for " + std::to_string(expected) + " and was answered " +
                  std::to_string(n) + " response message" + (n == 1 ? "" : "s"));
}

model::RemoteRef item_ref(const pugi::xml_node& item) {
  auto id = child(item, kTypesNs, "ItemId");
  return {id.attribute("Id").value(), id.attribute("ChangeKey").value()};
}

// The ItemId of the item a CreateItem or UpdateItem response message carries, if it carries one.
std::optional<model::RemoteRef> written_ref(const pugi::xml_node& msg) {
  auto items = child(msg, kMessagesNs, "Items");
  for (auto item = items.first_child(); item; item = item.next_sibling())
    if (item.type() == pugi::node_element) return item_ref(item);
  return std::nullopt;
}

}  // namespace

RemoteErrorKind kind_for_response_code(std::string_view code) {
  if (code == "ErrorServerBusy" || code == "ErrorExceededConnectionCount" ||
      code == "ErrorTooManyObjectsOpened" || code == "ErrorExceededSubscriptionCount")
    return RemoteErrorKind::throttled;
  if (code == "ErrorInvalidSyncStateData") return RemoteErrorKind::invalid_sync_state;
  if (code == "ErrorImpersonateUserDenied" || code == "ErrorImpersonationDenied" ||
      code == "ErrorImpersonationFailed" || code == "ErrorInvalidExchangeImpersonationHeaderData")
    return RemoteErrorKind::impersonation_denied;
  if (code == "ErrorNonExistentMailbox" || code == "ErrorMailboxNotFound" || code == "ErrorInvalidSmtpAddress")
    return RemoteErrorKind::mailbox_not_found;
  if (code == "ErrorAccessDenied" || code == "ErrorFolderNotFound" || code == "ErrorSendAsDenied")
    return RemoteErrorKind::access_denied;
  if (code == "ErrorIrresolvableConflict") return RemoteErrorKind::conflict;
  if (code == "ErrorItemNotFound") return RemoteErrorKind::item_not_found;
  if (code == "ErrorInvalidPropertySet" || code == "ErrorInvalidPropertyRequest" ||
      code == "ErrorInvalidValueForProperty" || code == "ErrorPropertyValidationFailure" ||
      code == "ErrorInvalidPropertyForOperation" || code == "ErrorObjectTypeChanged")
    return RemoteErrorKind::invalid_item;
  if (code == "ErrorSchemaValidation" || code == "ErrorInvalidRequest" || code == "ErrorInvalidIdMalformed" ||
      code == "Client")
    return RemoteErrorKind::protocol;
  return RemoteErrorKind::server;
}

RemoteError error_for_http_response(int status, std::string_view body, std::string_view retry_after) {
  if (status == 401)
    return {RemoteErrorKind::unauthorized, "HTTP 401: the server refused the access token", "", {}};
  if (!body.empty()) {
    // A SOAP fault says more than the status; any other body (an HTML error page) says less.
    pugi::xml_document doc;
    std::string problem;
    if (parse_document(doc, body, problem)) {
      auto env = doc.document_element();
      if (is_element(env, kSoapNs, "Envelope")) {
        if (auto fault = child(child(env, kSoapNs, "Body"), kSoapNs, "Fault")) return *fault_error(fault);
      }
    }
  }
  if (status == 503 || status == 429) {
    auto seconds = std::atoll(std::string(retry_after).c_str());
    return {RemoteErrorKind::throttled, "HTTP " + std::to_string(status) + ": the server asks to retry later",
            "HTTP" + std::to_string(status), std::chrono::seconds(seconds > 0 ? seconds : 30), true};
  }
  if (status == 403)
    return {RemoteErrorKind::access_denied,
            "HTTP 403: EWS refused the application (EWS turned off for the organisation, or the "
            "application not on its EWS allow list)",
            "HTTP403", {}};
  if (status >= 500) return {RemoteErrorKind::server, "HTTP " + std::to_string(status), "", {}};
  return {RemoteErrorKind::protocol, "unexpected HTTP " + std::to_string(status), "", {}};
}

Result<model::ChangePage, RemoteError> parse_sync_folder_items(std::string_view xml) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "SyncFolderItems");
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, "SyncFolderItems", 1)) return Fail{std::move(*wrong)};
  std::optional<model::ChangePage> page;
  std::optional<RemoteError> failure;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    if (page || failure) return;
    auto status = message_status(msg);
    if (!status.ok) {
      failure = std::move(status.error);
      return;
    }
    model::ChangePage p;
    p.next_cursor = child_text(msg, kMessagesNs, "SyncState");
    p.last_page = std::string_view(child_text(msg, kMessagesNs, "IncludesLastItemInRange")) != "false";
    auto changes = child(msg, kMessagesNs, "Changes");
    for (auto ch = changes.first_child(); ch; ch = ch.next_sibling()) {
      if (ch.type() != pugi::node_element || namespace_uri(ch) != kTypesNs) continue;
      auto kind = local_name(ch);
      if (kind == "Delete") {
        p.changes.push_back({model::ChangeKind::deleted, {child(ch, kTypesNs, "ItemId").attribute("Id").value(), ""}});
      } else if (kind == "Create" || kind == "Update") {
        // Contacts and calendar items are synced; a distribution list or a meeting request
        // in the same folder is another class.
        auto item = child(ch, kTypesNs, "Contact");
        if (!item) item = child(ch, kTypesNs, "CalendarItem");
        if (!item) continue;
        p.changes.push_back({kind == "Create" ? model::ChangeKind::created : model::ChangeKind::updated, item_ref(item)});
      }
    }
    page = std::move(p);
  });
  if (failure) return Fail{std::move(*failure)};
  if (!page) return Fail{protocol_error("SyncFolderItems response without a response message")};
  if (page->next_cursor.empty()) return Fail{protocol_error("SyncFolderItems response without a SyncState")};
  return std::move(*page);
}

namespace {

// Whether a per-item error of GetItem is the item's own: the rest of the answer stands without
// it. Throttling, access, impersonation, a missing mailbox and a refused token are not an item's.
bool item_refused(const RemoteError& e) {
  if (e.retry_after.count() > 0) return false;  // ErrorInternalServerError carrying a back-off: throttling
  switch (e.kind) {
    case RemoteErrorKind::invalid_item:
    case RemoteErrorKind::server:
    case RemoteErrorKind::protocol:
      return true;
    default:
      return false;
  }
}

}  // namespace

Result<model::FetchedItems, RemoteError> parse_get_item(std::string_view xml, const std::vector<std::string>& asked) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "GetItem");
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, "GetItem", asked.size())) return Fail{std::move(*wrong)};
  model::FetchedItems fetched;
  auto& items = fetched.items;
  items.reserve(asked.size());  // an item is thirty strings: moved once, not at each growth
  std::optional<RemoteError> failure;
  std::size_t index = 0;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    const std::string& wanted = asked[index++];
    if (failure) return;
    auto status = message_status(msg);
    if (!status.ok) {
      if (status.error.code == "ErrorItemNotFound") return;
      if (status.error.code == "ErrorBatchProcessingStopped") fetched.unanswered.push_back(wanted);
      else if (item_refused(status.error)) fetched.refused.push_back({wanted, status.error.code, status.error.message});
      else failure = std::move(status.error);
      return;
    }
    auto list = child(msg, kMessagesNs, "Items");
    int in_message = 0;
    for (auto item = list.first_child(); item && !failure; item = item.next_sibling()) {
      if (item.type() != pugi::node_element) continue;
      auto ref = item_ref(item);
      // Each message carries the item asked at its place, and nothing else.
      if (++in_message > 1 || ref.id != wanted) {
        failure = mismatch("GetItem asked for " + wanted + " and was answered " + ref.id);
        return;
      }
      if (is_element(item, kTypesNs, "Contact")) items.push_back({std::move(ref), contact_from_xml(item)});
      else if (is_element(item, kTypesNs, "CalendarItem")) items.push_back({std::move(ref), event_from_xml(item)});
    }
  });
  if (failure) return Fail{std::move(*failure)};
  return fetched;
}

Result<model::RemoteRef, RemoteError> parse_written_item(std::string_view xml, std::string_view operation,
                                                         std::string_view updated_id) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, operation);
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, operation, 1)) return Fail{std::move(*wrong)};
  std::optional<model::RemoteRef> ref;
  std::optional<RemoteError> failure;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    if (ref || failure) return;
    auto status = message_status(msg);
    if (!status.ok) {
      failure = std::move(status.error);
      return;
    }
    ref = written_ref(msg);
  });
  if (failure) return Fail{std::move(*failure)};
  // A success without the item is no answer to a write of one (gromox's stale empty
  // CreateItemResponse is one): whether the write was done is unknown.
  if (!ref || ref->id.empty())
    return Fail{mismatch(std::string(operation) + " was answered without the written item's ItemId")};
  if (!updated_id.empty() && ref->id != updated_id)
    return Fail{mismatch(std::string(operation) + " of " + std::string(updated_id) + " was answered for " + ref->id)};
  return std::move(*ref);
}

Result<std::vector<Result<model::RemoteRef, RemoteError>>, RemoteError> parse_created_items(std::string_view xml,
                                                                                        std::size_t asked) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "CreateItem");
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, "CreateItem", asked)) return Fail{std::move(*wrong)};
  std::vector<Result<model::RemoteRef, RemoteError>> out;
  std::optional<RemoteError> whole;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    if (whole) return;
    auto status = message_status(msg);
    if (!status.ok) {
      // Throttling, or a refusal of the caller or the mailbox, is no item's own: it fails all.
      if (model::concerns_whole_batch(status.error.kind)) whole = std::move(status.error);
      else out.push_back(Fail{std::move(status.error)});
      return;
    }
    const auto ref = written_ref(msg);
    // A success without the item: whether this one was created is unknown.
    if (!ref || ref->id.empty())
      out.push_back(Fail{mismatch("CreateItem was answered without the created item's ItemId")});
    else
      out.push_back(std::move(*ref));
  });
  if (whole) return Fail{std::move(*whole)};
  return out;
}

Result<Unit, RemoteError> parse_no_content(std::string_view xml, std::string_view operation) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, operation);
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, operation, 1)) return Fail{std::move(*wrong)};
  std::optional<RemoteError> failure;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    auto status = message_status(msg);
    if (!status.ok && !failure) failure = std::move(status.error);
  });
  if (failure) return Fail{std::move(*failure)};
  return Unit{};
}

Result<std::int64_t, RemoteError> parse_folder_total(std::string_view xml) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "GetFolder");
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, "GetFolder", 1)) return Fail{std::move(*wrong)};
  std::optional<RemoteError> failure;
  std::optional<std::int64_t> total;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    auto status = message_status(msg);
    if (!status.ok) {
      if (!failure) failure = std::move(status.error);
      return;
    }
    // Folders holds one Folder, ContactsFolder, CalendarFolder, ... element.
    for (auto f = child(msg, kMessagesNs, "Folders").first_child(); f && !total; f = f.next_sibling()) {
      const auto text = child_text(f, kTypesNs, "TotalCount");
      char* end = nullptr;
      const long long n = std::strtoll(text.c_str(), &end, 10);
      if (!text.empty() && end && *end == '\0' && n >= 0) total = n;
    }
  });
  if (failure) return Fail{std::move(*failure)};
  if (!total) return Fail{protocol_error("GetFolder response without a TotalCount")};
  return *total;
}

Result<std::vector<model::RemoteRef>, RemoteError> parse_find_item(std::string_view xml) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "FindItem");
  if (!op) return Fail{std::move(op).error()};
  if (auto wrong = check_message_count(*op, "FindItem", 1)) return Fail{std::move(*wrong)};
  std::vector<model::RemoteRef> refs;
  std::optional<RemoteError> failure;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    auto status = message_status(msg);
    if (!status.ok) {
      if (!failure) failure = std::move(status.error);
      return;
    }
    auto items = child(child(msg, kMessagesNs, "RootFolder"), kTypesNs, "Items");
    for (auto item = items.first_child(); item; item = item.next_sibling())
      if (item.type() == pugi::node_element) refs.push_back(item_ref(item));
  });
  if (failure) return Fail{std::move(*failure)};
  return refs;
}

Result<std::string, RemoteError> parse_subscribe(std::string_view xml) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "Subscribe");
  if (!op) return Fail{op.error()};
  if (auto e = check_message_count(*op, "Subscribe", 1)) return Fail{*e};
  std::optional<RemoteError> error;
  std::string id;
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    auto status = message_status(msg);
    if (!status.ok) {
      error = status.error;
      return;
    }
    id = child_text(msg, kMessagesNs, "SubscriptionId");
  });
  if (error) return Fail{*error};
  if (id.empty()) return Fail{protocol_error("a Subscribe answer without a SubscriptionId")};
  return id;
}

Result<StreamingEnvelope, RemoteError> parse_streaming_envelope(std::string_view xml,
                                                                const std::set<std::string>& asked) {
  pugi::xml_document doc;
  auto op = response_element(doc, xml, "GetStreamingEvents");
  if (!op) return Fail{op.error()};
  StreamingEnvelope out;
  std::set<std::string> seen;
  std::optional<RemoteError> stray;
  auto ours = [&](const std::string& id) {
    if (asked.contains(id)) return true;
    if (!stray) stray = mismatch("a GetStreamingEvents answer names subscription " + id + ", which this connection did not ask for");
    return false;
  };
  for_each_message(*op, [&](const pugi::xml_node& msg) {
    auto status = message_status(msg);
    if (!status.ok && !out.error) out.error = status.error;
    for (auto n = child(msg, kMessagesNs, "Notifications").first_child(); n; n = n.next_sibling()) {
      if (!is_element(n, kTypesNs, "Notification")) continue;
      std::string id = child_text(n, kTypesNs, "SubscriptionId");
      if (!ours(id)) return;
      // A StatusEvent alone is the subscription's own heartbeat, not a change.
      bool changed = false;
      for (auto e = n.first_child(); e; e = e.next_sibling()) {
        const auto name = local_name(e);
        if (e.type() == pugi::node_element && name.size() > 5 && name.substr(name.size() - 5) == "Event" &&
            name != "StatusEvent")
          changed = true;
      }
      if (changed && seen.insert(id).second) out.notified.push_back(std::move(id));
    }
    for (auto n = child(msg, kMessagesNs, "ErrorSubscriptionIds").first_child(); n; n = n.next_sibling()) {
      if (!is_element(n, kTypesNs, "SubscriptionId")) continue;
      std::string id = n.text().get();
      if (!ours(id)) return;
      out.lost.push_back(std::move(id));
    }
    if (child_text(msg, kMessagesNs, "ConnectionStatus") == "Closed") out.closed = true;
  });
  if (stray) return Fail{*stray};
  return out;
}

}  // namespace exsync::ews
