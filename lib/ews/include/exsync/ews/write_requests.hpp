// SOAP requests that change a mailbox: CreateItem, UpdateItem, DeleteItem, and the FindItem that
// looks for an item exsync created, by its tag.
//
// Field ownership: update_item_request() sets or deletes exactly the fields that differ between
// `before` (what the CRM edited from) and `after`, each by its own FieldURI or IndexedFieldURI
// ("contacts:EmailAddress"/"EmailAddress2", "contacts:PhysicalAddress:City"/"Home"), so that
// properties exsync does not map (a photo, custom fields) are never touched.
//
// Idempotent creation: every item exsync creates carries an extended property (exsync's property
// set, name "exsync-local-id") holding its local id, so that after an uncertain CreateItem the
// daemon finds it instead of creating a duplicate.
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/properties-and-extended-properties-in-ews-in-exchange
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "exsync/ews/requests.hpp"
#include "exsync/model/contact.hpp"
#include "exsync/model/event.hpp"
#include "exsync/model/folder.hpp"
#include "exsync/model/item.hpp"
#include "exsync/model/message.hpp"
#include "exsync/model/ports.hpp"
#include "exsync/model/tag.hpp"

namespace exsync::ews {

// exsync's MAPI named-property set and the name of the local-id tag (model/tag.hpp).
using model::kTagPropertyName;
using model::kTagPropertySetId;

std::string create_item_request(const Target& target, model::FolderKind folder, const model::Contact& contact,
                                std::string_view local_id);
// One CreateItem of several contacts, each tagged with its local id, in the order given (Exchange
// answers one response message per item, in that order). Empty when one is not a contact.
std::string create_items_request(const Target& target, model::FolderKind folder,
                                 const std::vector<model::RemoteMailboxService::NewItem>& items);

// NeverOverwrite with the stored ChangeKey makes Exchange refuse the update
// (ErrorIrresolvableConflict) when the item changed since; `overwrite` (AlwaysOverwrite) is for
// a local-wins resolution. Returns an empty string when nothing differs.
std::string update_item_request(const Target& target, const model::RemoteRef& ref, const model::Contact& before,
                                const model::Contact& after, bool overwrite);

// MoveToDeletedItems, so that a user can still recover what the CRM deleted; a meeting's
// attendees get a cancellation only when `notify`.
std::string delete_item_request(const Target& target, const model::RemoteRef& ref, bool notify = false);

// CreateItem of a calendar item in its own time zone (StartTimeZone/EndTimeZone by Windows id),
// SendMeetingInvitations="SendToNone" unless `notify`. Empty when the zone has no Windows id.
std::string create_event_request(const Target& target, const model::Event& event, std::string_view local_id,
                                 bool notify);

// UpdateItem of exactly the series' or event's own fields that differ (a series' recurrence
// among them; its occurrences are changed one by one, below); SendMeetingInvitationsOrCancellations
// as for creation. Empty when nothing differs.
std::string update_event_request(const Target& target, const model::RemoteRef& ref, const model::Event& before,
                                 const model::Event& after, bool overwrite, bool notify);

// An occurrence of a series as EWS addresses it: its own ItemId once it was changed (an
// exception), else the series' id and the occurrence's place in the pattern, counted from 1 with
// cancelled occurrences (t:OccurrenceItemId).
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-update-a-recurring-series-by-using-ews
struct OccurrenceRef {
  std::string item_id;
  std::string master_id;
  int instance_index = 0;
};

// UpdateItem of one occurrence (`before` and `after`: the occurrence as a single event), with
// AlwaysOverwrite: an occurrence has no change key of its own to hold, and the caller checks the
// series' first. Empty when nothing differs.
std::string update_occurrence_request(const Target& target, const OccurrenceRef& occurrence, const model::Event& before,
                                      const model::Event& after, bool notify);

// DeleteItem of one occurrence: it is cancelled, and the series lists it in DeletedOccurrences.
std::string delete_occurrence_request(const Target& target, const OccurrenceRef& occurrence, bool notify);

// FindItem in a distinguished folder ("contacts", "sentitems") for the item tagged `local_id`.
std::string find_item_by_tag_request(const Target& target, std::string_view distinguished_folder,
                                     std::string_view local_id);

// CreateItem with MessageDisposition="SendAndSaveCopy" and the copy saved in Sent Items: the
// message goes out from the mailbox and appears in its Sent Items, tagged with its local id.
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-send-email-messages-by-using-ews-in-exchange
std::string send_message_request(const Target& target, const model::OutgoingMessage& message);

}  // namespace exsync::ews
