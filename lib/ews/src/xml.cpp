#include "exsync/ews/xml.hpp"

#include <algorithm>
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

namespace {

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
// Returns the offset of the first bad byte, or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) len = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) len = 3, hi = 0x9F;  // no UTF-16 surrogates
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) len = 4, hi = 0x8F;
    else return i;
    if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    i += len;
  }
  return std::string_view::npos;
}

// The deepest element nesting, walked without recursion.
int depth_of(const pugi::xml_document& doc, int stop_at) {
  int depth = 0, deepest = 0;
  pugi::xml_node n = doc.first_child();
  while (n) {
    if (n.first_child()) {
      n = n.first_child();
      deepest = std::max(deepest, ++depth);
      if (deepest > stop_at) return deepest;
      continue;
    }
    while (n && !n.next_sibling()) {
      n = n.parent();
      --depth;
      if (n == doc) return deepest;
    }
    if (n) n = n.next_sibling();
  }
  return deepest;
}

}  // namespace

bool parse_document(pugi::xml_document& doc, std::string_view xml, std::string& problem) {
  if (const auto bad = invalid_utf8_at(xml); bad != std::string_view::npos) {
    problem = "XML that is not valid UTF-8 (byte " + std::to_string(bad) + ") is refused";
    return false;
  }
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
  if (depth_of(doc, kMaxXmlDepth) > kMaxXmlDepth) {
    problem = "XML nested deeper than " + std::to_string(kMaxXmlDepth) + " levels is refused";
    return false;
  }
  return true;
}

}  // namespace exsync::ews
