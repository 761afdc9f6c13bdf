// Thin RAII over sqlite3 handles, private to the store module.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "exsync/model/ports.hpp"

namespace exsync::store {

model::StoreError sqlite_error(sqlite3* db, int rc, std::string_view what);

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool valid() const { return stmt_ != nullptr; }
  int prepare_rc() const { return prepare_rc_; }

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  // Binds `text` without SQLite copying it: it must stay as it is until the statement's next
  // reset (a large value bound for every row of a page, such as an item's JSON).
  Statement& bind_borrowed(int index, std::string_view text);
  // SQLITE_ROW, SQLITE_DONE or an error code (a failed prepare's or bind's, without stepping).
  int step();
  void reset();
  std::string text(int column) const;
  std::int64_t integer(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int prepare_rc_ = SQLITE_OK;
  int bind_rc_ = SQLITE_OK;  // the first failed bind since the last reset
};

// A prepared statement borrowed from a StatementCache: bindings cleared before use, reset when the
// borrow ends, so that it never holds a read snapshot open between calls.
class StatementRef {
 public:
  explicit StatementRef(Statement& s) : s_(&s) { s_->reset(); }
  ~StatementRef() { s_->reset(); }
  StatementRef(const StatementRef&) = delete;
  StatementRef& operator=(const StatementRef&) = delete;
  operator Statement&() { return *s_; }

  bool valid() const { return s_->valid(); }
  int prepare_rc() const { return s_->prepare_rc(); }
  Statement& bind(int index, std::string_view text) { return s_->bind(index, text); }
  Statement& bind(int index, std::int64_t value) { return s_->bind(index, value); }
  Statement& bind_borrowed(int index, std::string_view text) { return s_->bind_borrowed(index, text); }
  int step() { return s_->step(); }
  void reset() { s_->reset(); }
  std::string text(int column) const { return s_->text(column); }
  std::int64_t integer(int column) const { return s_->integer(column); }
  bool is_null(int column) const { return s_->is_null(column); }

 private:
  Statement* s_;
};

// Statements prepared once per connection: preparing SQL costs far more than running it.
// Thread-safety: none; the store's mutex serialises every use.
class StatementCache {
 public:
  explicit StatementCache(sqlite3* db) : db_(db) {}
  StatementRef get(std::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(std::string(sql), std::make_unique<Statement>(db_, sql)).first;
    return StatementRef(*it->second);
  }
  void clear() { cache_.clear(); }

 private:
  sqlite3* db_;
  std::map<std::string, std::unique_ptr<Statement>, std::less<>> cache_;
};

}  // namespace exsync::store
