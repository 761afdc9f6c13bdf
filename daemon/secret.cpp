#include "secret.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "exsync/core/secret_file.hpp"
#include "exsync/crypto/sealed_secret.hpp"

namespace exsync::daemon {
namespace {

namespace fs = std::filesystem;

// Writes `content` to `path` readable by its owner only: a new file beside it, then renamed, so
// that no reader ever sees half of it. `exclusive`: fail if `path` exists.
bool write_private(const fs::path& path, const std::string& content, bool exclusive, std::string& problem) {
  if (exclusive) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      problem = std::strerror(errno);
      return false;
    }
    const bool ok = ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
    if (!ok) problem = std::strerror(errno);
    ::close(fd);
    return ok;
  }
  const auto tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    problem = std::strerror(errno);
    return false;
  }
  const bool ok = ::fchmod(fd, 0600) == 0 &&
                  ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
                  ::fsync(fd) == 0;
  if (!ok) problem = std::strerror(errno);
  ::close(fd);
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    problem = std::strerror(errno);
    return false;
  }
  return ok;
}

}  // namespace

int run_secret_seal(const CommandLine& cl) {
  const fs::path key_path = cl.key_file;
  std::string key;
  std::error_code ec;
  if (!fs::exists(key_path, ec)) {
    auto text = crypto::new_key_file_text();
    std::string problem;
    if (!text || !write_private(key_path, *text, true, problem)) {
      std::fprintf(stderr, "exsyncd: --key-file: cannot create %s: %s\n", key_path.c_str(),
                   text ? problem.c_str() : text.error().message.c_str());
      return kExitIoError;
    }
    std::fprintf(stderr, "exsyncd: created the key file %s (keep it apart from the sealed file's backups)\n",
                 key_path.c_str());
    key = *crypto::parse_key_file(*text);
  } else {
    auto text = read_secret_file(key_path);
    if (!text) {
      std::fprintf(stderr, "exsyncd: --key-file: %s %s\n", key_path.c_str(), text.error().c_str());
      return kExitConfig;
    }
    auto parsed = crypto::parse_key_file(*text);
    if (!parsed) {
      std::fprintf(stderr, "exsyncd: --key-file: %s %s\n", key_path.c_str(), parsed.error().message.c_str());
      return kExitConfig;
    }
    key = std::move(*parsed);
  }

  std::string secret((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    std::fprintf(stderr, "exsyncd: secret seal: nothing on standard input to seal\n");
    return kExitUsage;
  }
  auto sealed = crypto::seal(secret, key);
  if (!sealed) {
    std::fprintf(stderr, "exsyncd: secret seal: %s\n", sealed.error().message.c_str());
    return 1;
  }
  if (cl.out.empty()) {
    std::fwrite(sealed->data(), 1, sealed->size(), stdout);
    return 0;
  }
  std::string problem;
  if (!write_private(cl.out, *sealed, false, problem)) {
    std::fprintf(stderr, "exsyncd: --out: cannot write %s: %s\n", cl.out.c_str(), problem.c_str());
    return kExitIoError;
  }
  return 0;
}

}  // namespace exsync::daemon
