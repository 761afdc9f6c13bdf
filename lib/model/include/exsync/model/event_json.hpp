// The event JSON shape shared by `exsyncd items --folder calendar`, the store and the CRM's API
// (README, "An event"). Empty fields are omitted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/event.hpp"

namespace exsync::model {

std::string event_to_json(const Event& event, const std::optional<ItemIdentity>& identity = {});
Result<Event, std::string> event_from_json(std::string_view json);

// The first member of the event JSON `json` that is not one of its fields (identity members
// aside), by its path ("emails[1].adress"); nullopt when there is none or the text
// is not a JSON object. Writers refuse such members rather than drop them without a word.
std::optional<std::string> event_unknown_field(std::string_view json);

}  // namespace exsync::model
