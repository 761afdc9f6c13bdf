#include "exsync/model/item_json.hpp"

namespace exsync::model {

std::string payload_to_json(const ItemPayload& payload, const std::optional<ItemIdentity>& identity) {
  return std::visit(
      [&](const auto& item) -> std::string {
        if constexpr (std::is_same_v<std::decay_t<decltype(item)>, Contact>) return contact_to_json(item, identity);
        else return event_to_json(item, identity);
      },
      payload);
}

Result<ItemPayload, std::string> payload_from_json(FolderKind folder, std::string_view json) {
  if (folder == FolderKind::calendar) {
    auto e = event_from_json(json);
    if (!e) return Fail{e.error()};
    return ItemPayload(std::move(*e));
  }
  auto c = contact_from_json(json);
  if (!c) return Fail{c.error()};
  return ItemPayload(std::move(*c));
}

std::optional<std::string> unknown_field(FolderKind folder, std::string_view json) {
  return folder == FolderKind::calendar ? event_unknown_field(json) : contact_unknown_field(json);
}

}  // namespace exsync::model
