// Fuzz target: every parser of Exchange's SOAP answers, on the same bytes, as the EWS adapter
// would meet them in an HTTP 200 or error body. None may crash, hang or read out of bounds,
// whatever the bytes; each either parses or returns an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exsync/ews/responses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)exsync::ews::parse_sync_folder_items(xml);
  (void)exsync::ews::parse_get_item(xml);
  (void)exsync::ews::parse_written_item(xml);
  (void)exsync::ews::parse_find_item(xml);
  (void)exsync::ews::parse_folder_total(xml);
  (void)exsync::ews::parse_no_content(xml);
  (void)exsync::ews::error_for_http_response(500, xml, "");
  (void)exsync::ews::error_for_http_response(503, xml, xml.substr(0, 8));
  return 0;
}
