// SOAP request bodies exsync sends to Exchange Web Services.
//
// Every request carries RequestServerVersion and names its mailbox one of two ways (Target):
// under impersonation, by the ExchangeImpersonation header with the mailbox's PrimarySmtpAddress;
// as a delegate, by a Mailbox element in each DistinguishedFolderId (item ids name their mailbox
// themselves). Every value is XML-escaped; characters XML 1.0 cannot
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

// How a request reaches an agent's mailbox.
enum class Addressing {
  // The ExchangeImpersonation header: Exchange acts as the mailbox's owner (a service account
  // with the ApplicationImpersonation role, or an app-only token).
  impersonation,
  // As a delegate with FullAccess on the mailbox: no impersonation header; each distinguished
  // folder names the mailbox, and mail goes out From it (which also needs Send As).
  delegate,
};

// The mailbox a request is for, and how it is addressed. Converts from an address alone, for
// impersonation.
struct Target {
  Target(std::string_view mailbox, Addressing addressing = Addressing::impersonation)
      : mailbox(mailbox), addressing(addressing) {}
  Target(const char* mailbox) : Target(std::string_view(mailbox)) {}
  Target(const std::string& mailbox) : Target(std::string_view(mailbox)) {}
  std::string_view mailbox;
  Addressing addressing;
};

// Escapes text for an XML element or attribute value.
std::string xml_escape(std::string_view text);

// SyncFolderItems on the distinguished folder, ItemShape IdOnly: the changed ids are then
// fetched with GetItem, as Microsoft recommends for synchronisation.
// https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems
std::string sync_folder_items_request(const Target& target, model::FolderKind folder,
                                      std::string_view sync_state, int max_changes);

// GetFolder for the distinguished folder's TotalCount.
std::string get_folder_request(const Target& target, model::FolderKind folder);

// GetItem for `ids` with exactly the properties exsync maps, body as plain text.
std::string get_item_request(const Target& target, model::FolderKind folder,
                             const std::vector<std::string>& ids);

}  // namespace exsync::ews
