// Fuzz target: Entra ID's token endpoint answers, success and error shapes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "exsync/auth/auth_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)exsync::auth::parse_token_response(body);
  for (int status : {400, 401, 500}) {
    const auto e = exsync::auth::classify_token_error(status, body);
    (void)e.advice();
  }
  return 0;
}
