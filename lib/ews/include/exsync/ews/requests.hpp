// SOAP request bodies exsync sends to Exchange Web Services.
//
// Every request carries RequestServerVersion and, for impersonation, ExchangeImpersonation with
// the target mailbox's PrimarySmtpAddress. Every value is XML-escaped; characters XML 1.0 cannot
// carry (most C0 controls) are dropped. The bodies validate against Microsoft's messages.xsd.
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "exsync/model/folder.hpp"

namespace exsync::ews {

// Exchange2013_SP1 is the oldest version with everything exsync uses and is accepted by
// Exchange Online and Exchange Server 2013 through Subscription Edition.
inline constexpr std::string_view kRequestServerVersion = "Exchange2013_SP1";

// Escapes text for an XML element or attribute value.
std::string xml_escape(std::string_view text);

// SyncFolderItems on the distinguished folder, ItemShape IdOnly: the changed ids are then
// fetched with GetItem, as Microsoft recommends for synchronisation.
// https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems
std::string sync_folder_items_request(std::string_view mailbox, model::FolderKind folder,
                                      std::string_view sync_state, int max_changes);

// GetItem for `ids` with exactly the properties exsync maps, body as plain text.
std::string get_item_request(std::string_view mailbox, model::FolderKind folder,
                             const std::vector<std::string>& ids);

}  // namespace exsync::ews
