#include <sqlite3.h>

#include <chrono>
#include <cstdint>

#include "store_impl.hpp"

namespace exsync::store {

std::string new_local_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  unsigned char random[10];
  sqlite3_randomness(sizeof random, random);
  std::string id(32, '0');
  for (int i = 0; i < 12; ++i) id[static_cast<std::size_t>(i)] = kHex[(ms >> (4 * (11 - i))) & 0xF];
  for (int i = 0; i < 10; ++i) {
    id[static_cast<std::size_t>(12 + 2 * i)] = kHex[random[i] >> 4];
    id[static_cast<std::size_t>(13 + 2 * i)] = kHex[random[i] & 0xF];
  }
  return id;
}

}  // namespace exsync::store
