// The async vocabulary shared by every module: Asio's C++20 coroutines and a way to run blocking
// work (SQLite, fsync) on a thread pool without blocking the network thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <type_traits>

namespace exsync {

namespace net = boost::asio;

template <typename T>
using Task = net::awaitable<T>;

// Runs `fn` on `pool` and resumes the calling coroutine on its own executor with the result.
// An exception thrown by `fn` is rethrown in the caller. `fn` and what it references must stay
// alive until it returns, which the suspended caller guarantees.
template <typename F, typename R = std::invoke_result_t<F&>>
Task<R> run_blocking(net::thread_pool& pool, F fn) {
  std::optional<R> out;
  std::exception_ptr failure;
  co_await net::async_initiate<const net::use_awaitable_t<>&, void()>(
      [&](auto handler) {
        auto home = net::get_associated_executor(handler);
        net::post(pool, [&, handler = std::move(handler), home]() mutable {
          try {
            out.emplace(fn());
          } catch (...) {
            failure = std::current_exception();
          }
          net::post(home, std::move(handler));
        });
      },
      net::use_awaitable);
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*out);
}

}  // namespace exsync
