// The SOAP envelope every exsync request shares, private to the ews module.
#pragma once

#include <string>
#include <string_view>

#include "exsync/ews/requests.hpp"

namespace exsync::ews {

// RequestServerVersion, and ExchangeImpersonation under impersonation, around `body`.
std::string soap_envelope(const Target& target, std::string_view body);

// <t:DistinguishedFolderId Id="ID"/>, naming the target's mailbox when addressed as a delegate.
std::string distinguished_folder_id(const Target& target, std::string_view id);

}  // namespace exsync::ews
