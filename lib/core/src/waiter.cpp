#include "exsync/core/waiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>

namespace exsync {

Task<void> AsioWaiter::wait(std::chrono::milliseconds duration) {
  net::steady_timer timer(co_await net::this_coro::executor, duration);
  co_await timer.async_wait(net::as_tuple(net::use_awaitable));
}

AsioWaiter& AsioWaiter::instance() {
  static AsioWaiter waiter;
  return waiter;
}

}  // namespace exsync
