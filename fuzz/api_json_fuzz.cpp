// Fuzz target: the JSON the CRM sends to the API: contacts, events and messages, and what a
// parsed one turns back into.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exsync/model/item_json.hpp"
#include "exsync/model/message_json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  for (auto folder : {exsync::model::FolderKind::contacts, exsync::model::FolderKind::calendar}) {
    if (auto item = exsync::model::payload_from_json(folder, json)) {
      // What was accepted must print and read back.
      const auto again = exsync::model::payload_from_json(folder, exsync::model::payload_to_json(*item, {}));
      if (!again) __builtin_trap();
    }
  }
  if (auto m = exsync::model::message_from_json(json)) (void)exsync::model::message_to_json(*m);
  return 0;
}
