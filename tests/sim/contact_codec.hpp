// How the simulator reads contacts that clients write (CreateItem) and applies UpdateItem's
// SetItemField/DeleteItemField, as Exchange does: by FieldURI and IndexedFieldURI. Written
// independently of the daemon's own XML code, so that the simulator does not mirror its bugs.
#pragma once

#include <optional>
#include <pugixml.hpp>
#include <string>

#include "tenant.hpp"

namespace exsync::sim {

struct WrittenContact {
  model::Contact contact;
  std::optional<SysSeconds> birthday_instant;
  std::map<std::string, std::string> extended;
};

WrittenContact read_written_contact(const pugi::xml_node& contact);

// Applies one ItemChange's Updates to `c`; returns an error text for a field it cannot apply.
std::optional<std::string> apply_updates(const pugi::xml_node& updates, WrittenContact& c);

// "PropertySetId/PropertyName" of an ExtendedFieldURI.
std::string extended_key(const pugi::xml_node& extended_field_uri);

}  // namespace exsync::sim
