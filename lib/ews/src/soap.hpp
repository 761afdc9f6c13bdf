// The SOAP envelope every exsync request shares, private to the ews module.
#pragma once

#include <string>
#include <string_view>

namespace exsync::ews {

// RequestServerVersion and ExchangeImpersonation for `mailbox`, around `body`.
std::string soap_envelope(std::string_view mailbox, std::string_view body);

}  // namespace exsync::ews
