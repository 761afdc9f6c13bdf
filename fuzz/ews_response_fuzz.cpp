// Fuzz target: every parser of Exchange's SOAP answers, on the same bytes, as the EWS adapter
// would meet them in an HTTP 200 or error body. None may crash, hang or read out of bounds,
// whatever the bytes; each either parses or returns an error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "exsync/ews/responses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)exsync::ews::parse_sync_folder_items(xml);
  // The ids asked for: none, one, and two (so that every message-count branch is reached).
  static const std::vector<std::string> none, one{"AAMkAD1"}, two{"AAMkAD1", "AAMkAD2"};
  for (const auto* asked : {&none, &one, &two}) (void)exsync::ews::parse_get_item(xml, *asked);
  (void)exsync::ews::parse_written_item(xml, "CreateItem");
  (void)exsync::ews::parse_written_item(xml, "UpdateItem", "AAMkAD1");
  (void)exsync::ews::parse_find_item(xml);
  (void)exsync::ews::parse_folder_total(xml);
  (void)exsync::ews::parse_no_content(xml, "DeleteItem");
  (void)exsync::ews::parse_no_content(xml, "CreateItem");
  (void)exsync::ews::error_for_http_response(500, xml, "");
  (void)exsync::ews::error_for_http_response(503, xml, xml.substr(0, 8));
  return 0;
}
