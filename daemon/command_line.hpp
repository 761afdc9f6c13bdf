// The exsyncd command line: a command and its options.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace exsync::daemon {

enum class Command { run, once, items, status, verify, backup, secret_seal, help, version };

struct CommandLine {
  Command command = Command::run;
  std::string config;
  std::string mailbox;
  std::string folder = "contacts";
  bool write_test = false;  // verify: also create and delete a tagged contact
  bool json = false;        // verify, status: JSON for machines
  bool watch = false;       // status: refresh every 2 s
  std::string key_file;     // secret seal
  std::string out;          // secret seal: where to write (default: stdout)
  std::string to;           // backup: the new file
};

// Parses argv; on a usage error returns nullopt and sets `problem` to one line.
std::optional<CommandLine> parse_command_line(const std::vector<std::string>& args, std::string& problem);

extern const char* const kUsage;

}  // namespace exsync::daemon
