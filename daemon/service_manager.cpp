#include "service_manager.hpp"

#include <systemd/sd-daemon.h>

#include <string>

#include "exsync/log/log.hpp"

namespace exsync::daemon {

ServiceManager::ServiceManager() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

void ServiceManager::notify(const std::string& message) {
  // < 0: the socket is there but refused the message; 0: not under systemd.
  if (const int r = sd_notify(0, message.c_str()); r < 0)
    log::warn("systemd.notify.failed", {{"errno", -r}});
}

// STATUS is one line: a newline would end it early.
static std::string one_line(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

void ServiceManager::ready(std::string_view status) { notify("READY=1\nSTATUS=" + one_line(status)); }
void ServiceManager::status(std::string_view status) { notify("STATUS=" + one_line(status)); }
void ServiceManager::watchdog() { notify("WATCHDOG=1"); }
void ServiceManager::reloading() { notify("RELOADING=1"); }
void ServiceManager::stopping(std::string_view status) { notify("STOPPING=1\nSTATUS=" + one_line(status)); }

}  // namespace exsync::daemon
