// Namespace-aware navigation over pugixml: the ews module's parsers and the tenant simulator
// read SOAP with these, matching elements by namespace URI and local name, never by prefix.
#pragma once

#include <pugixml.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace exsync::ews {

std::string_view local_name(const pugi::xml_node& node);
// The namespace URI the node's prefix (or the default namespace) is bound to in scope.
std::string_view namespace_uri(const pugi::xml_node& node);
bool is_element(const pugi::xml_node& node, std::string_view ns, std::string_view local);
// First element child with that namespace and local name; empty node when none.
pugi::xml_node child(const pugi::xml_node& node, std::string_view ns, std::string_view local);
std::string child_text(const pugi::xml_node& node, std::string_view ns, std::string_view local);

// The element children of one node, listed once with their local names, for parsers that read
// many fields of one element (a contact's thirty, an event's forty): each lookup compares names
// of known length instead of walking the siblings again, and a prefix's namespace is resolved
// once for all the children that share it. Matches exactly as child() does.
class Children {
 public:
  explicit Children(const pugi::xml_node& parent);
  pugi::xml_node find(std::string_view ns, std::string_view local) const;
  std::string text(std::string_view ns, std::string_view local) const;

 private:
  struct Entry {
    std::string_view local;
    std::string_view prefix;
    pugi::xml_node node;
    bool declares = false;  // carries xmlns attributes of its own
  };
  std::string_view uri_of(const Entry& e) const;

  pugi::xml_node parent_;
  std::vector<Entry> entries_;
  mutable std::vector<std::pair<std::string_view, std::string_view>> uris_;  // prefix -> URI
};

// Exchange's answers nest about a dozen levels; far deeper is an attack or a broken proxy.
inline constexpr int kMaxXmlDepth = 64;

// Parses `xml`, refusing documents that are not valid UTF-8, that carry a DOCTYPE (so no entity
// expansion and no external references), or that nest deeper than kMaxXmlDepth. Returns false
// and a reason when the document is refused or malformed. (The size is capped before, by the
// HTTP client's max_response_bytes.)
bool parse_document(pugi::xml_document& doc, std::string_view xml, std::string& problem);

}  // namespace exsync::ews
