// Request correlation headers, as Exchange Online and Entra ID add them to their answers.
//
// A client that sends `client-request-id: <id>` with `return-client-request-id: true` gets the
// same `client-request-id` back on the answer, and every answer carries the server's own id for
// the request (Exchange: `request-id`, Entra: `x-ms-request-id`). The headers are made when the
// request is answered, so an answer written late or twice still names its own request: that is
// how a client tells a stale answer from the one it waits for. With the tenant's
// `echo_request_id` off there are none, as gromox answers.
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/instrumenting-client-requests-for-ews-and-rest-in-exchange
// Thread-safety: none (the tenant's).
#pragma once

#include <string_view>
#include <vector>

#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

inline constexpr std::string_view kExchangeRequestIdHeader = "request-id";
inline constexpr std::string_view kEntraRequestIdHeader = "x-ms-request-id";

// The headers to add to every answer to `request` (the same for a stale copy of it).
std::vector<http::Header> request_id_headers(Tenant& tenant, const http::Request& request,
                                             std::string_view server_id_header);

}  // namespace exsync::sim
