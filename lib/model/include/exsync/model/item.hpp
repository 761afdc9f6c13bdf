// Items as they travel between the remote mailbox, the sync engine and the local store.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "exsync/model/contact.hpp"
#include "exsync/model/event.hpp"

namespace exsync::model {

// What a folder item holds: a contact in a contacts folder, an event in a calendar.
using ItemPayload = std::variant<Contact, Event>;

// The remote side's identity of an item: an opaque id that is stable for the item's life, and a
// change key that changes with every modification (EWS ItemId/ChangeKey; Graph id/changeKey).
struct RemoteRef {
  std::string id;
  std::string change_key;
  bool operator==(const RemoteRef&) const = default;
};

struct RemoteItem {
  RemoteRef ref;
  ItemPayload payload;
};

enum class ChangeKind { created, updated, deleted };

struct RemoteChange {
  ChangeKind kind;
  RemoteRef ref;  // change_key is empty for deletions
};

// One page of a folder's change feed: the changes since the cursor it was asked with, and the
// cursor that follows them.
struct ChangePage {
  std::vector<RemoteChange> changes;
  std::string next_cursor;  // opaque; EWS SyncState, Graph deltaLink
  bool last_page = true;    // no more changes right now
};

}  // namespace exsync::model
