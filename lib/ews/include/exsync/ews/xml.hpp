// Namespace-aware navigation over pugixml: the ews module's parsers and the tenant simulator
// read SOAP with these, matching elements by namespace URI and local name, never by prefix.
#pragma once

#include <pugixml.hpp>

#include <string>
#include <string_view>

namespace exsync::ews {

std::string_view local_name(const pugi::xml_node& node);
// The namespace URI the node's prefix (or the default namespace) is bound to in scope.
std::string_view namespace_uri(const pugi::xml_node& node);
bool is_element(const pugi::xml_node& node, std::string_view ns, std::string_view local);
// First element child with that namespace and local name; empty node when none.
pugi::xml_node child(const pugi::xml_node& node, std::string_view ns, std::string_view local);
std::string child_text(const pugi::xml_node& node, std::string_view ns, std::string_view local);

// Exchange's answers nest about a dozen levels; far deeper is an attack or a broken proxy.
inline constexpr int kMaxXmlDepth = 64;

// Parses `xml`, refusing documents that are not valid UTF-8, that carry a DOCTYPE (so no entity
// expansion and no external references), or that nest deeper than kMaxXmlDepth. Returns false
// and a reason when the document is refused or malformed. (The size is capped before, by the
// HTTP client's max_response_bytes.)
bool parse_document(pugi::xml_document& doc, std::string_view xml, std::string& problem);

}  // namespace exsync::ews
