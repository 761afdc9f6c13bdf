#include "faulty_vfs.hpp"

#include <sqlite3.h>

#include <atomic>
#include <cstring>

namespace exsync::test {
namespace {

std::atomic<int> g_countdown{0};
std::atomic<int> g_ops{0};
std::atomic<bool> g_met{false};
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs;

struct File {
  sqlite3_file base;
  sqlite3_file* real;  // allocated right after this struct
};

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }

// Counts a mutating operation; true when it is the one to fail.
bool fail_now() {
  ++g_ops;
  if (g_countdown.load() <= 0) return false;
  if (--g_countdown == 0) {
    g_met = true;
    return true;
  }
  return false;
}

int x_close(sqlite3_file* f) { return real(f)->pMethods ? real(f)->pMethods->xClose(real(f)) : SQLITE_OK; }
int x_read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return real(f)->pMethods->xRead(real(f), b, n, o); }
int x_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  if (fail_now()) return SQLITE_IOERR_WRITE;
  return real(f)->pMethods->xWrite(real(f), b, n, o);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (fail_now()) return SQLITE_IOERR_TRUNCATE;
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (fail_now()) return SQLITE_IOERR_FSYNC;
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* s) { return real(f)->pMethods->xFileSize(real(f), s); }
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* r) { return real(f)->pMethods->xCheckReservedLock(real(f), r); }
int x_file_control(sqlite3_file* f, int op, void* a) { return real(f)->pMethods->xFileControl(real(f), op, a); }
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_chars(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int i, int sz, int ext, void volatile** p) {
  return real(f)->pMethods->xShmMap(real(f), i, sz, ext, p);
}
int x_shm_lock(sqlite3_file* f, int off, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), off, n, flags); }
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return real(f)->pMethods->xFetch(real(f), o, n, p); }
int x_unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return real(f)->pMethods->xUnfetch(real(f), o, p); }

const sqlite3_io_methods kMethods = {3,           x_close,          x_read,        x_write,        x_truncate,
                                     x_sync,      x_file_size,      x_lock,        x_unlock,       x_check_reserved,
                                     x_file_control, x_sector_size, x_device_chars, x_shm_map,     x_shm_lock,
                                     x_shm_barrier, x_shm_unmap,    x_fetch,       x_unfetch};

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* file = reinterpret_cast<File*>(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  std::memset(file->real, 0, static_cast<std::size_t>(g_real->szOsFile));
  const int rc = g_real->xOpen(g_real, name, file->real, flags, out_flags);
  // Only a file the real VFS opened has methods to close; SQLite then calls ours.
  file->base.pMethods = file->real->pMethods ? &kMethods : nullptr;
  return rc;
}

}  // namespace

void FaultyVfs::install() {
  if (g_real) return;
  g_real = sqlite3_vfs_find(nullptr);
  g_vfs = *g_real;
  g_vfs.zName = "exsync-faulty";
  g_vfs.szOsFile = static_cast<int>(sizeof(File)) + g_real->szOsFile;
  g_vfs.xOpen = x_open;
  sqlite3_vfs_register(&g_vfs, 1);
}

void FaultyVfs::fail_at(int n) {
  g_met = false;
  g_ops = 0;
  g_countdown = n;
}

bool FaultyVfs::met() { return g_met.load(); }

int FaultyVfs::operations() { return g_ops.load(); }

}  // namespace exsync::test
