// The SOAP envelope as Exchange Online writes it (ews-captures/ews/*_exo.xml): operation
// responses, per-item messages, faults, and the folder ids the simulator hands out. Shared by
// the EWS endpoint's request gate and its operations.
#pragma once

#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "exsync/http/message.hpp"
#include "tenant.hpp"

namespace exsync::sim {

http::Response xml_response(int status, std::string body);
// The <m:{op}Response> envelope around `messages`.
http::Response operation_response(std::string_view op, const std::string& messages);
// One ResponseClass="Error" message (MessageText, ResponseCode, DescriptiveLinkKey, then `tail`).
std::string error_message(std::string_view op, std::string_view code, std::string_view text, const std::string& tail = "");
// The opening of a ResponseClass="Success" message, through its ResponseCode.
std::string success_open(std::string_view op);
// HTTP 500 SOAP fault, the shape of ews-captures/ews/fault_*.xml (no SOAP header).
http::Response fault(std::string_view code, std::string_view text, const std::string& message_xml = "");

std::string contacts_folder_id(const Mailbox& mb);
std::string root_folder_id(const Mailbox& mb);
std::string calendar_folder_id(const Mailbox& mb);
bool is_contacts_folder(const pugi::xml_node& folder_ids_parent, const Mailbox& mb);
bool is_distinguished(const pugi::xml_node& folder_ids_parent, std::string_view id);
// <t:{name}>value</t:{name}>, escaped; nothing for an empty value.
std::string element(std::string_view name, std::string_view value);

}  // namespace exsync::sim
