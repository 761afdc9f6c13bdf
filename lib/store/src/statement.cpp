#include "statement.hpp"

namespace exsync::store {

model::StoreError sqlite_error(sqlite3* db, int rc, std::string_view what) {
  model::StoreErrorKind kind = model::StoreErrorKind::io;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: kind = model::StoreErrorKind::busy; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: kind = model::StoreErrorKind::corrupt; break;
    case SQLITE_CONSTRAINT: kind = model::StoreErrorKind::constraint; break;
    default: break;
  }
  std::string msg(what);
  msg += ": ";
  // The connection's message when it is about this error (a bind's failure leaves it unset).
  msg += db && (sqlite3_errcode(db) & 0xff) == (rc & 0xff) ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return {kind, msg};
}

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
  prepare_rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  if (!stmt_) return *this;
  const int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind_borrowed(int index, std::string_view text) {
  if (!stmt_) return *this;
  const int rc = sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (!stmt_) return *this;
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  return *this;
}

// A bind that failed (an index out of range, no memory) fails the step: never a query run with
// a parameter missing.
int Statement::step() {
  if (!stmt_) return prepare_rc_ == SQLITE_OK ? SQLITE_MISUSE : prepare_rc_;
  if (bind_rc_ != SQLITE_OK) return bind_rc_;
  return sqlite3_step(stmt_);
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_rc_ = SQLITE_OK;
}

std::string Statement::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, column)) : std::string();
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

}  // namespace exsync::store
