// exsyncd: parse the command line, load the configuration, run the command.
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "commands.hpp"
#include "secret.hpp"
#include "verify.hpp"

int main(int argc, char** argv) {
  using namespace exsync::daemon;
  // A reader that goes away (`exsyncd items | head`, a closed journal pipe) is an error to report,
  // not a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  // No core dumps: one would hold the service account's password and live access tokens.
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  std::string problem;
  auto cl = parse_command_line(std::vector<std::string>(argv + 1, argv + argc), problem);
  if (!cl) {
    std::fprintf(stderr, "exsyncd: %s\nTry 'exsyncd --help'.\n", problem.c_str());
    return kExitUsage;
  }
  switch (cl->command) {
    case Command::help:
      std::fputs(kUsage, stdout);
      return 0;
    case Command::version:
      std::printf("exsyncd %s\n", EXSYNC_VERSION);
      return 0;
    case Command::verify:
      return run_verify(*cl);
    case Command::secret_seal:
      return run_secret_seal(*cl);
    default:
      return run_command(*cl);
  }
}
