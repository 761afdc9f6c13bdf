// JSON of any folder item, by its folder's kind: contacts and events.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/event_json.hpp"
#include "exsync/model/folder.hpp"
#include "exsync/model/item.hpp"

namespace exsync::model {

std::string payload_to_json(const ItemPayload& payload, const std::optional<ItemIdentity>& identity = {});
Result<ItemPayload, std::string> payload_from_json(FolderKind folder, std::string_view json);

// The first member of the folder's item JSON that is not one of its fields (see
// contact_unknown_field, event_unknown_field).
std::optional<std::string> unknown_field(FolderKind folder, std::string_view json);

}  // namespace exsync::model
