#include "command_line.hpp"

namespace exsync::daemon {

const char* const kUsage = R"(Usage: exsyncd [COMMAND] --config FILE [OPTIONS]

Keeps Exchange and Microsoft 365 mailboxes' contacts and calendars in sync with a local SQLite store
for the CRM, over EWS or Microsoft Graph.

Commands:
  run                 sync every mailbox every interval until SIGTERM or SIGINT (the default)
  once                sync every mailbox (or --mailbox) once, then exit;
                      exit status 1 if any mailbox failed
  items               print the stored items of --mailbox as JSON lines
  status              one line per mailbox from the store: state, last success, items per
                      folder, outbox (pending+parked!), last error; works while exsyncd runs
  verify              test the tenant's setup with the test mailbox --mailbox and print a
                      checklist (PASS/FAIL per step); exit status 0 only if all passed
  backup              copy the store to --to FILE (a new file) with SQLite's online backup,
                      also while exsyncd runs; the copy is checked before it gets its name
  secret seal         read a secret on stdin and write it sealed (AES-256-GCM) with
                      --key-file K (created if missing) to --out F or stdout; give F as
                      [service_account] password_file and K as key_file

Options:
  -c, --config FILE   the TOML configuration (see config/exsync.toml.example)
  -m, --mailbox ADDR  one mailbox (once: sync only this one; items: required)
  -f, --folder NAME   the folder for items (default: contacts)
      --write-test    verify: also create and delete one tagged contact in the test mailbox
      --json          verify, status: print JSON
      --watch         status: print the table again every 2 s until interrupted
      --key-file K    secret seal: the key file
      --out F         secret seal: the sealed file to write
      --to FILE       backup: the file to create
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
    } else if (a == "--to") {
      auto v = value("--to");
      if (!v) return std::nullopt;
      cl.to = *v;
    } else if (a == "--key-file" || a == "--out") {
      auto v = value(a.c_str());
      if (!v) return std::nullopt;
      (a == "--key-file" ? cl.key_file : cl.out) = *v;
    } else if (!command_seen && a == "secret") {
      command_seen = true;
      if (i + 1 >= args.size() || args[i + 1] != "seal") {
        problem = "secret needs a subcommand: seal";
        return std::nullopt;
      }
      ++i;
      cl.command = Command::secret_seal;
    } else if (a == "--write-test") {
      cl.write_test = true;
    } else if (a == "--json") {
      cl.json = true;
    } else if (a == "--watch") {
      cl.watch = true;
    } else if (!command_seen &&
               (a == "run" || a == "once" || a == "items" || a == "status" || a == "verify" || a == "backup")) {
      command_seen = true;
      cl.command = a == "run"      ? Command::run
                   : a == "once"   ? Command::once
                   : a == "items"  ? Command::items
                   : a == "status" ? Command::status
                   : a == "backup" ? Command::backup
                                   : Command::verify;
    } else {
      problem = "unknown argument \"" + a + "\"";
      return std::nullopt;
    }
  }
  if (cl.command == Command::secret_seal) {
    if (cl.key_file.empty()) {
      problem = "secret seal needs --key-file K";
      return std::nullopt;
    }
    return cl;
  }
  if (!cl.key_file.empty() || !cl.out.empty()) {
    problem = "--key-file and --out go with secret seal";
    return std::nullopt;
  }
  if (cl.config.empty()) {
    problem = "--config FILE is required";
    return std::nullopt;
  }
  if ((cl.command == Command::items || cl.command == Command::verify) && cl.mailbox.empty()) {
    problem = std::string(cl.command == Command::items ? "items" : "verify") + " needs --mailbox ADDR";
    return std::nullopt;
  }
  if ((cl.command == Command::backup) != !cl.to.empty()) {
    problem = cl.to.empty() ? "backup needs --to FILE" : "--to goes with backup";
    return std::nullopt;
  }
  if (cl.watch && cl.command != Command::status) {
    problem = "--watch goes with status";
    return std::nullopt;
  }
  if (cl.write_test && cl.command != Command::verify) {
    problem = "--write-test goes with verify";
    return std::nullopt;
  }
  if (cl.json && cl.command != Command::verify && cl.command != Command::status) {
    problem = "--json goes with verify and status";
    return std::nullopt;
  }
  return cl;
}

}  // namespace exsync::daemon
