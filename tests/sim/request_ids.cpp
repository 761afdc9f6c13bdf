#include "request_ids.hpp"

#include <boost/algorithm/string/predicate.hpp>

namespace exsync::sim {

std::vector<http::Header> request_id_headers(Tenant& tenant, const http::Request& request,
                                             std::string_view server_id_header) {
  if (!tenant.echo_request_id) return {};
  std::vector<http::Header> out{{std::string(server_id_header), tenant.new_request_id()}};
  const auto id = request.header("client-request-id");
  if (!id.empty() && boost::algorithm::iequals(request.header("return-client-request-id"), "true"))
    out.push_back({"client-request-id", std::string(id)});
  return out;
}

}  // namespace exsync::sim
