// Result<T, E>: a value or an error, the way every module reports failure across its boundary.
//
// Modules define their own error type (usually a struct with an `enum class` kind and a message
// for the log) and return Result<T, ThatError>. Exceptions never cross a module boundary.
// Thread-safety: a plain value type.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace exsync {

// Wraps an error so that Result can be built from it unambiguously: `return Fail{err};`.
template <typename E>
struct Fail {
  E error;
};
template <typename E>
Fail(E) -> Fail<E>;

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <typename F>
  Result(Fail<F> f) : v_(std::in_place_index<1>, E(std::move(f.error))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  // Rvalue access moves the value out, so that `for (auto& x : *f())` owns what it iterates.
  T value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }

  // REQUIRES: !ok()
  const E& error() const& { assert(!ok()); return std::get<1>(v_); }
  E error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, E> v_;
};

// For operations that produce nothing but may fail.
struct Unit {};

}  // namespace exsync
