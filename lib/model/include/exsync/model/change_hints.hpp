// ChangeHints: a protocol's way of saying, without being polled, that a mailbox changed (EWS
// streaming notifications). A hint only makes the mailbox's sync run early; what changed is
// always read by the sync itself, so a lost, repeated or late hint costs freshness, never data.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "exsync/core/async.hpp"

namespace exsync::model {

// Hears the hints. Called on the network thread.
class HintListener {
 public:
  virtual ~HintListener() = default;
  // A watched folder of `mailbox` changed.
  virtual void changed(const std::string& mailbox) = 0;
  // Hints for `mailbox` now flow (`live`), or stopped and it relies on polling; `reason` says why
  // (an EWS ResponseCode, "connection_limit", ...), empty when live.
  virtual void watching(const std::string& mailbox, bool live, std::string_view reason) = 0;
};

class ChangeHints {
 public:
  virtual ~ChangeHints() = default;
  // The mailboxes to watch; may change while run() runs (a reload).
  virtual void set_mailboxes(const std::vector<std::string>& mailboxes) = 0;
  // Watches until stop(); then returns once every connection is closed.
  virtual Task<void> run(HintListener& listener) = 0;
  virtual void stop() = 0;
};

}  // namespace exsync::model
