#include "exsync/ews/xml.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace exsync::ews {

std::string_view local_name(const pugi::xml_node& node) {
  std::string_view n = node.name();
  auto colon = n.find(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

namespace {

// The URI `prefix` ("" for the default namespace) is bound to at `node`, looked up without
// allocating: by the xmlns attributes of the node and its ancestors.
std::string_view bound_uri(pugi::xml_node node, std::string_view prefix) {
  for (auto cur = node; cur && cur.type() == pugi::node_element; cur = cur.parent()) {
    for (auto a = cur.first_attribute(); a; a = a.next_attribute()) {
      const std::string_view an = a.name();
      if (an.size() < 5 || an.compare(0, 5, "xmlns") != 0) continue;
      if (prefix.empty() ? an.size() == 5 : an.size() == prefix.size() + 6 && an[5] == ':' && an.substr(6) == prefix)
        return a.value();
    }
  }
  return {};
}

std::string_view prefix_of(std::string_view name) {
  const auto colon = name.find(':');
  return colon == std::string_view::npos ? std::string_view() : name.substr(0, colon);
}

}  // namespace

std::string_view namespace_uri(const pugi::xml_node& node) { return bound_uri(node, prefix_of(node.name())); }

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

Children::Children(const pugi::xml_node& parent) : parent_(parent) {
  for (auto c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    const std::string_view name = c.name();
    const auto colon = name.find(':');
    Entry e{colon == std::string_view::npos ? name : name.substr(colon + 1),
            colon == std::string_view::npos ? std::string_view() : name.substr(0, colon), c};
    for (auto a = c.first_attribute(); a && !e.declares; a = a.next_attribute())
      e.declares = std::string_view(a.name()).starts_with("xmlns");
    entries_.push_back(e);
  }
}

std::string_view Children::uri_of(const Entry& e) const {
  if (e.declares) return bound_uri(e.node, e.prefix);
  for (const auto& [prefix, uri] : uris_)
    if (prefix == e.prefix) return uri;
  const auto uri = bound_uri(parent_, e.prefix);
  uris_.emplace_back(e.prefix, uri);
  return uri;
}

pugi::xml_node Children::find(std::string_view ns, std::string_view local) const {
  for (const auto& e : entries_)
    if (e.local == local && uri_of(e) == ns) return e.node;
  return {};
}

std::string Children::text(std::string_view ns, std::string_view local) const { return find(ns, local).text().get(); }

namespace {

// Whether `s` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF).
// Returns the offset of the first bad byte, or npos.
std::size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    // Eight ASCII bytes at a time: most of an answer is markup.
    if (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
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
