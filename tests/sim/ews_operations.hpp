// The simulator's EWS operations: one handler per operation (CreateItem by what it creates),
// each answering a request the endpoint's gate has authenticated, validated, addressed to a
// mailbox, met with its faults and charged to a budget.
#pragma once

#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "ews_endpoint.hpp"
#include "ews_soap.hpp"
#include "tenant.hpp"

namespace exsync::sim {

struct EwsCall {
  Tenant& tenant;
  EwsStats& stats;
  const pugi::xml_node& op;  // the operation's element in the SOAP body
  const std::string& name;   // its local name
  Mailbox& mb;               // the mailbox the request reaches
  bool delegate = false;     // reached as a delegate, not by impersonation
  bool refuse_send = false;  // send_refused_saved: refuse the send, yet save the copy
  bool refused_send = false;  // out: a send was refused so
};

using EwsOperation = http::Response (*)(EwsCall&);

// The handler of operation `name` (`op` tells CreateItem's kinds apart); null when the
// simulator does not implement it.
const EwsOperation* ews_operation(std::string_view name, const pugi::xml_node& op);

}  // namespace exsync::sim
