#include "command_line.hpp"

namespace exsync::daemon {

const char* const kUsage = R"(Usage: exsyncd [COMMAND] --config FILE [OPTIONS]

Keeps Exchange mailboxes' contacts in sync with a local SQLite store for the CRM.

Commands:
  run                 sync every mailbox every interval until SIGTERM or SIGINT (the default)
  once                sync every mailbox (or --mailbox) once, then exit;
                      exit status 1 if any mailbox failed
  items               print the stored items of --mailbox as JSON lines

Options:
  -c, --config FILE   the TOML configuration (see config/exsync.toml.example)
  -m, --mailbox ADDR  one mailbox (once: sync only this one; items: required)
  -f, --folder NAME   the folder for items (default: contacts)
  -h, --help          print this help and exit
  -V, --version       print the version and exit

Exit status: 0 success, 1 a mailbox failed (once), 64 bad command line, 69 the API address
cannot be bound, 74 store error, 78 bad configuration.
)";

std::optional<CommandLine> parse_command_line(const std::vector<std::string>& args, std::string& problem) {
  CommandLine cl;
  bool command_seen = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        problem = std::string(name) + " needs a value";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      cl.command = Command::help;
      return cl;
    } else if (a == "-V" || a == "--version") {
      cl.command = Command::version;
      return cl;
    } else if (a == "-c" || a == "--config") {
      auto v = value("--config");
      if (!v) return std::nullopt;
      cl.config = *v;
    } else if (a.rfind("--config=", 0) == 0) {
      cl.config = a.substr(9);
    } else if (a == "-m" || a == "--mailbox") {
      auto v = value("--mailbox");
      if (!v) return std::nullopt;
      cl.mailbox = *v;
    } else if (a == "-f" || a == "--folder") {
      auto v = value("--folder");
      if (!v) return std::nullopt;
      cl.folder = *v;
    } else if (!command_seen && (a == "run" || a == "once" || a == "items")) {
      command_seen = true;
      cl.command = a == "run" ? Command::run : a == "once" ? Command::once : Command::items;
    } else {
      problem = "unknown argument \"" + a + "\"";
      return std::nullopt;
    }
  }
  if (cl.config.empty()) {
    problem = "--config FILE is required";
    return std::nullopt;
  }
  if (cl.command == Command::items && cl.mailbox.empty()) {
    problem = "items needs --mailbox ADDR";
    return std::nullopt;
  }
  return cl;
}

}  // namespace exsync::daemon
