// The tag exsync puts on every item it creates (and every message it sends): the item's local
// id in a named extended property of its own property set. After an uncertain create or send,
// the item is found again by it. Both backends use the same property, so that either finds what
// the other created: EWS as ExtendedFieldURI PropertySetId/PropertyName, Microsoft Graph as the
// singleValueExtendedProperty id "String {set} Name name".
#pragma once

#include <string>
#include <string_view>

namespace exsync::model {

inline constexpr std::string_view kTagPropertySetId = "8a3f1c52-6e7d-4b0f-9d2a-3c5e7b1f4a60";
inline constexpr std::string_view kTagPropertyName = "exsync-local-id";

// The tag's id as Microsoft Graph spells an extended property.
inline std::string graph_tag_property_id() {
  return "String {" + std::string(kTagPropertySetId) + "} Name " + std::string(kTagPropertyName);
}

}  // namespace exsync::model
