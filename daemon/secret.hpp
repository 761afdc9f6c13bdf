// `exsyncd secret seal --key-file K [--out F]`: reads a secret on stdin and writes it sealed
// (crypto/sealed_secret.hpp) to F, or to stdout. A key file that does not exist yet is created
// with a new random key, readable by its owner only.
#pragma once

#include "command_line.hpp"

namespace exsync::daemon {

int run_secret_seal(const CommandLine& cl);

}  // namespace exsync::daemon
