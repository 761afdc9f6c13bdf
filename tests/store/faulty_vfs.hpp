// A SQLite VFS for tests that fails the n-th write, sync or truncate of any database, journal or
// WAL file (SQLITE_IOERR_WRITE, _FSYNC, _TRUNCATE), as SQLite's own I/O-error tests do, and
// otherwise passes everything to the platform's VFS. install() makes it the default, so that the
// store under test uses it without knowing.
// Thread-safety: the counters are atomic; the store may run on its own threads.
#pragma once

namespace exsync::test {

class FaultyVfs {
 public:
  // Registers the VFS as the default (once per process).
  static void install();
  // The n-th mutating operation from now fails (n >= 1); 0 lets everything through.
  static void fail_at(int n);
  // Whether the armed failure happened.
  static bool met();
  // Mutating operations seen since the last fail_at().
  static int operations();
};

}  // namespace exsync::test
