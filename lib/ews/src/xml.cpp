#include "exsync/ews/xml.hpp"

#include <cstring>

namespace exsync::ews {

std::string_view local_name(const pugi::xml_node& node) {
  std::string_view n = node.name();
  auto colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

std::string_view namespace_uri(const pugi::xml_node& node) {
  std::string_view n = node.name();
  auto colon = n.find(':');
  std::string attr = colon == std::string_view::npos ? "xmlns" : "xmlns:" + std::string(n.substr(0, colon));
  for (auto cur = node; cur; cur = cur.parent()) {
    if (cur.type() != pugi::node_element) break;
    if (auto a = cur.attribute(attr.c_str())) return a.value();
  }
  return {};
}

bool is_element(const pugi::xml_node& node, std::string_view ns, std::string_view local) {
  return node.type() == pugi::node_element && local_name(node) == local && namespace_uri(node) == ns;
}

pugi::xml_node child(const pugi::xml_node& node, std::string_view ns, std::string_view local) {
  for (auto c = node.first_child(); c; c = c.next_sibling()) {
    if (is_element(c, ns, local)) return c;
  }
  return {};
}

std::string child_text(const pugi::xml_node& node, std::string_view ns, std::string_view local) {
  return child(node, ns, local).text().get();
}

bool parse_document(pugi::xml_document& doc, std::string_view xml, std::string& problem) {
  auto result = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_doctype,
                                pugi::encoding_utf8);
  if (!result) {
    problem = std::string("malformed XML at offset ") + std::to_string(result.offset) + ": " + result.description();
    return false;
  }
  for (auto c = doc.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_doctype) {
      problem = "XML with a DOCTYPE is refused";
      return false;
    }
  }
  return true;
}

}  // namespace exsync::ews
