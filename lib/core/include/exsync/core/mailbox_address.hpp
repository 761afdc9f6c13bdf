// Validation of SMTP mailbox addresses as they appear in configuration and on the command line.
//
// exsync accepts the practical subset of RFC 5321 that Exchange uses for primary SMTP addresses:
// a dot-atom local part, '@', and a domain of at least two labels (letters, digits, hyphens).
// Quoted local parts and IP-literal domains are refused: Exchange does not assign them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace exsync {

// Returns a description of what is wrong with `address`, or nullopt when it is valid.
std::optional<std::string> mailbox_address_problem(std::string_view address);

// Lower-cases the address (SMTP addresses are matched case-insensitively by Exchange).
std::string normalize_mailbox_address(std::string_view address);

}  // namespace exsync
