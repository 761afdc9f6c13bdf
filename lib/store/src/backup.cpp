// Online backup of a store file.
#include "store_impl.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace exsync::store {

Result<BackupReport, StoreError> backup_store(const std::filesystem::path& store, const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(store, ec)) return Fail{StoreError{model::StoreErrorKind::io, "there is no store at " + store.string()}};
  if (fs::exists(to, ec))
    return Fail{StoreError{model::StoreErrorKind::io, to.string() + " exists already: name a new file"}};
  const fs::path partial = to.string() + ".partial";
  fs::remove(partial, ec);

  struct Db {
    sqlite3* db = nullptr;
    ~Db() { sqlite3_close_v2(db); }
  } src, dst;
  if (int rc = sqlite3_open_v2(store.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr); rc != SQLITE_OK)
    return Fail{sqlite_error(src.db, rc, "open store " + store.string())};
  sqlite3_busy_timeout(src.db, 5000);
  if (int rc = sqlite3_open_v2(partial.c_str(), &dst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
      rc != SQLITE_OK)
    return Fail{sqlite_error(dst.db, rc, "create " + partial.string())};

  BackupReport report;
  sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src.db, "main");
  if (!b) return Fail{sqlite_error(dst.db, sqlite3_errcode(dst.db), "start the backup")};
  // All pages in one step: a single read transaction on the source, so the copy is one snapshot.
  int rc;
  for (int attempt = 0; (rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED; ++attempt) {
    if (attempt == 50) break;
    sqlite3_sleep(100);
  }
  report.pages = sqlite3_backup_pagecount(b);
  if (int done = sqlite3_backup_finish(b); rc == SQLITE_DONE && done != SQLITE_OK) rc = done;
  if (rc != SQLITE_DONE && rc != SQLITE_OK) {
    auto e = sqlite_error(dst.db, rc, "copy " + store.string());
    sqlite3_close_v2(dst.db);
    dst.db = nullptr;
    fs::remove(partial, ec);
    return Fail{std::move(e)};
  }
  auto problems = integrity_problems(dst.db, "check the copy");
  if (!problems || !problems->empty()) {
    StoreError e = problems ? StoreError{model::StoreErrorKind::corrupt, "the copy failed its integrity check (" + *problems + ")"}
                            : problems.error();
    sqlite3_close_v2(dst.db);
    dst.db = nullptr;
    fs::remove(partial, ec);
    return Fail{std::move(e)};
  }
  {
    Statement v(dst.db, "PRAGMA user_version");
    if (v.valid() && v.step() == SQLITE_ROW) report.schema_version = static_cast<int>(v.integer(0));
  }
  sqlite3_close_v2(dst.db);  // the backup is written in rollback-journal mode: one file
  dst.db = nullptr;
  // Durable before it takes the name: the file, then the directory entry.
  if (int fd = ::open(partial.c_str(), O_RDONLY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  fs::rename(partial, to, ec);
  if (ec) return Fail{StoreError{model::StoreErrorKind::io, "move the copy to " + to.string() + ": " + ec.message()}};
  const auto dir = to.parent_path().empty() ? fs::path(".") : to.parent_path();
  if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  report.bytes = static_cast<std::int64_t>(fs::file_size(to, ec));
  return report;
}

}  // namespace exsync::store
