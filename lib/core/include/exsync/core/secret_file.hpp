// Files that hold secrets (passwords, client secrets, tokens, keys): read only when no one but
// their owner may read them, so that a secret left readable by others is noticed at once.
// Thread-safety: free function without shared state.
#pragma once

#include <filesystem>
#include <string>

#include "exsync/core/result.hpp"

namespace exsync {

// The file's content. Fails, in words fit to follow the file's name, when it cannot be read or
// when its mode lets group or others read it (naming the mode and the fix).
Result<std::string, std::string> read_secret_file(const std::filesystem::path& path);

}  // namespace exsync
