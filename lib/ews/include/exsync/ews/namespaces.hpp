// The XML namespaces of SOAP 1.1 and Exchange Web Services.
#pragma once

#include <string_view>

namespace exsync::ews {

inline constexpr std::string_view kSoapNs = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view kTypesNs = "http://schemas.microsoft.com/exchange/services/2006/types";
inline constexpr std::string_view kMessagesNs = "http://schemas.microsoft.com/exchange/services/2006/messages";
inline constexpr std::string_view kErrorsNs = "http://schemas.microsoft.com/exchange/services/2006/errors";

}  // namespace exsync::ews
