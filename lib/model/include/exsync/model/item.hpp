// Items as they travel between the remote mailbox, the sync engine and the local store.
#pragma once

#include <optional>
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

// An item the mailbox would not hand over: it answered that one item with an error of its own
// (corrupt, a property it cannot convert, ...) rather than with the item or "not found".
struct ItemRefusal {
  std::string id;       // remote id
  std::string code;     // the server's code for it (EWS ResponseCode)
  std::string message;  // and its text
};

// What one fetch() brought.
struct FetchedItems {
  std::vector<RemoteItem> items;     // in the order asked; items that no longer exist are left out
  std::vector<ItemRefusal> refused;  // poison items: the rest of their page goes on without them
  std::vector<std::string> unanswered;  // the server stopped before these (ask again)
};

enum class ChangeKind { created, updated, deleted };

struct RemoteChange {
  ChangeKind kind;
  RemoteRef ref;  // change_key is empty for deletions
  // The item's content, when the change feed carries it (Graph's delta does): the engine then
  // stores it as it is, without fetching it. Absent for a deletion, and where the feed gives
  // ids only (EWS SyncFolderItems with IdOnly).
  std::optional<ItemPayload> content = std::nullopt;
};

// One page of a folder's change feed: the changes since the cursor it was asked with, and the
// cursor that follows them.
struct ChangePage {
  std::vector<RemoteChange> changes;
  std::string next_cursor;  // opaque; EWS SyncState, Graph deltaLink
  bool last_page = true;    // no more changes right now
  // Set by a feed that cannot name every deletion (Graph's calendarView delta reports a deleted
  // series only by its occurrences): every id the folder holds now. A stored item not among
  // them is gone, and deleted as the feed's own deletions are.
  std::optional<std::vector<std::string>> present;
};

}  // namespace exsync::model
