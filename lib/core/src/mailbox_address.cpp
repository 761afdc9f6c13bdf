#include "exsync/core/mailbox_address.hpp"

#include <algorithm>
#include <cctype>

namespace exsync {
namespace {

bool is_atext(unsigned char c) {
  if (std::isalnum(c)) return true;
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> mailbox_address_problem(std::string_view address) {
  if (address.empty()) return "is empty";
  if (address.size() > 254) return "is longer than 254 characters";
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) return "has no '@'";
  const auto local = address.substr(0, at);
  const auto domain = address.substr(at + 1);
  if (local.empty() || local.size() > 64) return "has an empty or over-long part before '@'";
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return "has a misplaced '.' before '@'";
  for (unsigned char c : local) {
    if (c != '.' && !is_atext(c)) return "has a character not allowed before '@'";
  }
  if (domain.find('.') == std::string_view::npos) return "has a domain without a '.'";
  std::size_t start = 0;
  while (start <= domain.size()) {
    auto end = domain.find('.', start);
    if (end == std::string_view::npos) end = domain.size();
    const auto label = domain.substr(start, end - start);
    if (label.empty() || label.size() > 63) return "has an empty or over-long domain label";
    if (label.front() == '-' || label.back() == '-') return "has a domain label starting or ending with '-'";
    for (unsigned char c : label) {
      if (!std::isalnum(c) && c != '-') return "has a character not allowed in the domain";
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::string normalize_mailbox_address(std::string_view address) {
  std::string out(address);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace exsync
