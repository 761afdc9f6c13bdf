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

}  // namespace exsync::model
