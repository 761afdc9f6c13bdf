#include "ews_soap.hpp"

#include "codec.hpp"
#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/ews/xml.hpp"

namespace exsync::sim {

using ews::child;
using ews::is_element;
using ews::kMessagesNs;
using ews::kTypesNs;
using ews::xml_escape;

namespace {

// Exchange Online's envelope, as recorded in ews-captures/ews/*_exo.xml.
constexpr std::string_view kEnvelopeStart =
    R"(<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">)"
    R"(<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="3370" )"
    R"(MinorBuildNumber="16" Version="V2018_01_08" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" )"
    R"(xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>)"
    R"(</s:Header><s:Body>)";


}  // namespace

http::Response xml_response(int status, std::string body) {
  return {status, {{"Content-Type", "text/xml; charset=utf-8"}, {"X-FEServer", "EXSIM01"}}, std::move(body)};
}

http::Response operation_response(std::string_view op, const std::string& messages) {
  std::string out(kEnvelopeStart);
  out += "<m:" + std::string(op) + "Response xmlns:m=\"" + std::string(kMessagesNs) +
         "\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
         "xmlns:t=\"" + std::string(kTypesNs) + "\"><m:ResponseMessages>";
  out += messages;
  out += "</m:ResponseMessages></m:" + std::string(op) + "Response></s:Body></s:Envelope>";
  auto resp = xml_response(200, std::move(out));
  resp.headers.push_back({"x-EwsHandler", std::string(op)});
  return resp;
}

// Exchange puts MessageText before ResponseCode, then DescriptiveLinkKey.
std::string error_message(std::string_view op, std::string_view code, std::string_view text,
                          const std::string& tail) {
  return "<m:" + std::string(op) + "ResponseMessage ResponseClass=\"Error\"><m:MessageText>" + xml_escape(text) +
         "</m:MessageText><m:ResponseCode>" + std::string(code) +
         "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>" + tail + "</m:" + std::string(op) +
         "ResponseMessage>";
}

std::string success_open(std::string_view op) {
  return "<m:" + std::string(op) + "ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>";
}

// HTTP 500 SOAP fault, the shape of ews-captures/ews/fault_*.xml (no SOAP header).
http::Response fault(std::string_view code, std::string_view text, const std::string& message_xml) {
  std::string out =
      R"(<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>)";
  out += R"(<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:)" + std::string(code) +
         "</faultcode>";
  out += R"(<faultstring xml:lang="en-US">)" + xml_escape(text) + "</faultstring><detail>";
  out += R"(<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">)" +
         std::string(code) + "</e:ResponseCode>";
  out += R"(<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">)" + xml_escape(text) +
         "</e:Message>";
  if (!message_xml.empty())
    out += R"(<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">)" + message_xml +
           "</t:MessageXml>";
  out += "</detail></s:Fault></s:Body></s:Envelope>";
  return xml_response(500, std::move(out));
}

std::string contacts_folder_id(const Mailbox& mb) {
  return "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":folder:contacts");
}

std::string root_folder_id(const Mailbox& mb) { return "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":folder:root"); }

std::string element(std::string_view name, std::string_view value) {
  if (value.empty()) return {};
  return "<t:" + std::string(name) + ">" + xml_escape(value) + "</t:" + std::string(name) + ">";
}

std::string calendar_folder_id(const Mailbox& mb) {
  return "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":folder:calendar");
}

bool is_contacts_folder(const pugi::xml_node& folder_ids_parent, const Mailbox& mb) {
  for (auto f = folder_ids_parent.first_child(); f; f = f.next_sibling()) {
    if (is_element(f, kTypesNs, "DistinguishedFolderId")) return std::string_view(f.attribute("Id").value()) == "contacts";
    if (is_element(f, kTypesNs, "FolderId")) return f.attribute("Id").value() == contacts_folder_id(mb);
  }
  return false;
}

bool is_distinguished(const pugi::xml_node& folder_ids_parent, std::string_view id) {
  auto f = child(folder_ids_parent, kTypesNs, "DistinguishedFolderId");
  return f && std::string_view(f.attribute("Id").value()) == id;
}


}  // namespace exsync::sim
