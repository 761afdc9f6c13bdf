// ServiceManager: what exsyncd tells systemd when it runs as a Type=notify service: READY once
// the store is open and the configuration valid, STATUS lines with progress, WATCHDOG pings from
// the event loop, RELOADING and STOPPING. Outside systemd (no NOTIFY_SOCKET) every call does
// nothing, so `exsyncd run` behaves the same from a shell.
// Thread-safety: call from the network thread.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace exsync::daemon {

class ServiceManager {
 public:
  ServiceManager();

  void ready(std::string_view status);
  void status(std::string_view status);
  void watchdog();
  void reloading();
  void stopping(std::string_view status);

  // How often systemd expects a WATCHDOG ping (WatchdogSec=), when it does.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  void notify(const std::string& message);
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace exsync::daemon
