// The contact JSON shape shared by `exsyncd items`, the store and the CRM's API.
//
// Empty fields are omitted. `id`, `ews_id` and `change_key` come first when an identity is given.
// Thread-safety: free functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "exsync/core/result.hpp"
#include "exsync/model/contact.hpp"
#include "exsync/model/item.hpp"

namespace exsync::model {

struct ItemIdentity {
  std::string local_id;
  RemoteRef remote;
  std::string etag;  // the stored item's entity tag, for conditional writes (empty: left out)
};

// One line of JSON, no trailing newline.
std::string contact_to_json(const Contact& contact, const std::optional<ItemIdentity>& identity = {});

// Parses the shape above; identity fields, when present, are ignored. The error says which field
// is wrong and why.
Result<Contact, std::string> contact_from_json(std::string_view json);

// The first member of the contact JSON `json` that is not one of its fields (identity members
// aside), by its path ("emails[1].adress"); nullopt when there is none or the text
// is not a JSON object. Writers refuse such members rather than drop them without a word.
std::optional<std::string> contact_unknown_field(std::string_view json);

}  // namespace exsync::model
