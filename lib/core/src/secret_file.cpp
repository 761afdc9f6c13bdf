#include "exsync/core/secret_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace exsync {

Result<std::string, std::string> read_secret_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Fail{std::string("cannot be read: ") + std::strerror(errno)};
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return Fail{std::string("is readable by group or others (mode ") + mode + "); it holds a secret: chmod 600 " +
                path.string() + ", owned by the user exsyncd runs as (or use systemd's LoadCredential=)"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail{std::string("cannot be read: ") + std::strerror(errno)};
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Fail{std::string("cannot be read")};
  return ss.str();
}

}  // namespace exsync
