// The daemon's /metrics, in Prometheus text format (the API adds the store's backlog).
#pragma once

#include <string>

#include "exsync/sync/scheduler.hpp"
#include "runtime.hpp"

namespace exsync::daemon {

std::string metrics_text(const Runtime& rt, const sync::Scheduler& scheduler);

}  // namespace exsync::daemon
