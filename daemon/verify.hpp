// `exsyncd verify`: the setup guide's last step. Tests the credentials and permissions the
// brokerage's admin provided, the way the daemon will use them, against one test mailbox, and
// prints a checklist: one line per step, PASS or FAIL, and for each FAIL what is wrong and which
// setup step fixes it. Nothing is written to the daemon's store: contacts and calendar are read
// into a scratch store that is removed afterwards; `--write-test` also creates one tagged
// contact in the test mailbox and deletes it again.
#pragma once

#include "command_line.hpp"

namespace exsync::daemon {

// Exit status 0 when every step passed, 1 when one failed, 64/78 as the other commands.
int run_verify(const CommandLine& cl);

}  // namespace exsync::daemon
