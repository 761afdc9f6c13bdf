// Microsoft Graph's JSON for the resources exsync syncs, to and from the model, and Graph's error
// answers as RemoteErrors. Pure functions: no I/O.
//
// Contacts (https://learn.microsoft.com/graph/api/resources/contact): Graph names the fields the
// model keeps, except that it has no dictionary keys. The model's keys map to Graph's positions:
// EmailAddress1..3 are emailAddresses[0..2]; BusinessPhone/BusinessPhone2 are businessPhones[0,1],
// HomePhone/HomePhone2 homePhones[0,1], MobilePhone mobilePhone; Business/Home/Other are
// businessAddress/homeAddress/otherAddress. Other phone keys (faxes, pager, ...) have no Graph
// field: the Graph backend neither reads nor writes them.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "exsync/core/result.hpp"
#include "exsync/http/message.hpp"
#include "exsync/model/contact.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/message.hpp"
#include "exsync/model/remote_error.hpp"

namespace exsync::graph {

// The model's phone keys Graph has a field for.
bool graph_phone_key(std::string_view key);

// A contact resource: its id and changeKey, and its fields. Errors: what is missing or malformed.
Result<model::RemoteItem, std::string> contact_from_graph(const boost::json::object& resource);

// A contact resource's id and changeKey alone (what a create's answer is read for).
Result<model::RemoteRef, std::string> contact_ref_from_graph(const boost::json::object& resource);

// The body of a create: every field the contact has, and the tag (model/tag.hpp) with `local_id`.
boost::json::object contact_create_body(const model::Contact& contact, std::string_view local_id);

// The body of an update: only the Graph fields that differ between `before` and `after` (a
// removed value is sent as null or an empty collection); empty when nothing differs.
boost::json::object contact_patch_body(const model::Contact& before, const model::Contact& after);

// The body of a draft (POST /users/{id}/messages): recipients, subject, body, the tag with the
// message's local id, and the attachments whose indexes are in `inline_attachments` (the others
// go through an upload session).
boost::json::object message_draft_body(const model::OutgoingMessage& message,
                                       const std::vector<std::size_t>& inline_attachments);

// A Graph error answer (https://learn.microsoft.com/graph/errors): its status, its
// {"error":{"code","message"}} body and Retry-After, as the engine's error kinds. 410 and the
// sync-state codes (SyncStateNotFound, ResyncRequired, SyncStateInvalid, in any case) are an
// expired delta token; 401 is never one.
model::RemoteError error_for_graph_response(int status, std::string_view body, std::string_view retry_after);

// The same for an answer remote::send_authorized returned with an error status, with its request
// id: a 401 there came after a fresh token, so it is Graph refusing the application.
model::RemoteError error_for_graph_answer(const http::Response& answer);

}  // namespace exsync::graph
