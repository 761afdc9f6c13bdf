// Fuzz target: the configuration parser, on arbitrary TOML text. Relative paths resolve under a
// folder that does not exist, so that no input reaches a real file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exsync/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = exsync::config::parse_config(text, "/nonexistent-exsync-fuzz/exsync.toml");
  if (!cfg) (void)cfg.error().message();
  return 0;
}
