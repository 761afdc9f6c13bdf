// The JSON the CRM posts to send a message, and its validation.
//
//   {"to": ["a@x.com", {"name": "B", "address": "b@x.com"}], "cc": [...], "bcc": [...],
//    "subject": "...", "text": "..." | "html": "...",
//    "attachments": [{"name": "offer.pdf", "content_type": "application/pdf", "content_base64": "..."}]}
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/model/message.hpp"

namespace exsync::model {

// Parses and validates; the error names the field ("to[1]: \"x\" is not an email address").
Result<OutgoingMessage, std::string> message_from_json(std::string_view json);
// The stored form (the same shape, with "html" or "text").
std::string message_to_json(const OutgoingMessage& message);

// The first member of the message JSON `json` that is not one of its fields (identity members
// aside, which a message has none of), by its path ("emails[1].adress"); nullopt when there is none or the text
// is not a JSON object. Writers refuse such members rather than drop them without a word.
std::optional<std::string> message_unknown_field(std::string_view json);

}  // namespace exsync::model
