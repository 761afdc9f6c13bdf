#include "exsync/ews/requests.hpp"

#include <algorithm>
#include <span>
#include <string>

#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/notifications.hpp"
#include "soap.hpp"

namespace exsync::ews {

std::string soap_envelope(const Target& target, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 640);
  out += R"(<?xml version="1.0" encoding="utf-8"?>)";
  out += R"(<soap:Envelope xmlns:soap=")";
  out += kSoapNs;
  out += R"(" xmlns:t=")";
  out += kTypesNs;
  out += R"(" xmlns:m=")";
  out += kMessagesNs;
  out += R"("><soap:Header><t:RequestServerVersion Version=")";
  out += kRequestServerVersion;
  out += R"("/>)";
  if (target.addressing == Addressing::impersonation) {
    out += R"(<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>)";
    out += xml_escape(target.mailbox);
    out += R"(</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>)";
  }
  out += R"(</soap:Header><soap:Body>)";
  out += body;
  out += "</soap:Body></soap:Envelope>";
  return out;
}

std::string distinguished_folder_id(const Target& target, std::string_view id) {
  std::string out = R"(<t:DistinguishedFolderId Id=")";
  out += id;
  if (target.addressing == Addressing::impersonation) return out + R"("/>)";
  out += R"("><t:Mailbox><t:EmailAddress>)";
  out += xml_escape(target.mailbox);
  out += R"(</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>)";
  return out;
}

namespace {

std::string_view distinguished_id(model::FolderKind folder) { return model::folder_name(folder); }

// The properties exsync maps for a contact (see contact_xml.cpp for how each is read).
constexpr std::string_view kContactFields[] = {
    "item:LastModifiedTime", "item:Body",          "item:Categories",  "contacts:FileAs",
    "contacts:DisplayName",  "contacts:GivenName", "contacts:Nickname", "contacts:CompanyName",
    "contacts:JobTitle",     "contacts:MiddleName", "contacts:Surname", "contacts:Birthday",
};

// The contact's collections are asked entry by entry (IndexedFieldURI), as exchangelib asks:
// Exchange answers either form with the same EmailAddresses/PhoneNumbers/PhysicalAddresses
// elements, and gromox answers only this one. The keys are types.xsd's EmailAddressKeyType,
// PhoneNumberKeyType and PhysicalAddressKeyType.
// https://learn.microsoft.com/exchange/client-developer/web-service-reference/indexedfielduri
constexpr std::string_view kEmailKeys[] = {"EmailAddress1", "EmailAddress2", "EmailAddress3"};
constexpr std::string_view kPhoneKeys[] = {
    "AssistantPhone", "BusinessFax",   "BusinessPhone", "BusinessPhone2", "Callback",       "CarPhone",
    "CompanyMainPhone", "HomeFax",     "HomePhone",     "HomePhone2",     "Isdn",           "MobilePhone",
    "OtherFax",       "OtherTelephone", "Pager",        "PrimaryPhone",   "RadioPhone",     "Telex",
    "TtyTddPhone",    "BusinessMobile", "IPPhone",      "Mms",            "Msn",
};
constexpr std::string_view kAddressKeys[] = {"Home", "Business", "Other"};
constexpr std::string_view kAddressFields[] = {"Street", "City", "State", "CountryOrRegion", "PostalCode"};

void indexed_field(std::string& out, std::string_view uri, std::string_view index) {
  out += R"(<t:IndexedFieldURI FieldURI=")";
  out += uri;
  out += R"(" FieldIndex=")";
  out += index;
  out += R"("/>)";
}

// The properties exsync maps for an event (see event_xml.cpp).
constexpr std::string_view kEventFields[] = {
    "item:Subject",          "item:Body",                  "item:Categories",          "item:Sensitivity",
    "item:LastModifiedTime", "item:ReminderIsSet",         "item:ReminderMinutesBeforeStart",
    "calendar:UID",          "calendar:Start",             "calendar:End",             "calendar:IsAllDayEvent",
    "calendar:LegacyFreeBusyStatus", "calendar:Location",  "calendar:IsCancelled",     "calendar:Organizer",
    "calendar:RequiredAttendees", "calendar:OptionalAttendees", "calendar:Resources", "calendar:Recurrence",
    "calendar:ModifiedOccurrences", "calendar:DeletedOccurrences", "calendar:StartTimeZoneId",
};

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 allows only TAB, LF and CR among the C0 controls.
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += static_cast<char>(c);
    }
  }
  return out;
}

std::string sync_folder_items_request(const Target& target, model::FolderKind folder,
                                      std::string_view sync_state, int max_changes) {
  std::string body = "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>";
  body += "<m:SyncFolderId>";
  body += distinguished_folder_id(target, distinguished_id(folder));
  body += "</m:SyncFolderId>";
  if (!sync_state.empty()) {
    body += "<m:SyncState>";
    body += xml_escape(sync_state);
    body += "</m:SyncState>";
  }
  body += "<m:MaxChangesReturned>" + std::to_string(max_changes) + "</m:MaxChangesReturned>";
  body += "<m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>";
  return soap_envelope(target, body);
}

std::string get_folder_request(const Target& target, model::FolderKind folder) {
  std::string body = "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
                     "<t:FieldURI FieldURI=\"folder:TotalCount\"/></t:AdditionalProperties></m:FolderShape><m:FolderIds>";
  body += distinguished_folder_id(target, distinguished_id(folder));
  body += "</m:FolderIds></m:GetFolder>";
  return soap_envelope(target, body);
}

std::string get_item_request(const Target& target, model::FolderKind folder,
                             const std::vector<std::string>& ids) {
  std::string body = "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:BodyType>Text</t:BodyType>";
  body += "<t:AdditionalProperties>";
  const auto fields = folder == model::FolderKind::calendar ? std::span<const std::string_view>(kEventFields)
                                                            : std::span<const std::string_view>(kContactFields);
  for (auto f : fields) {
    body += R"(<t:FieldURI FieldURI=")";
    body += f;
    body += R"("/>)";
  }
  if (folder == model::FolderKind::contacts) {
    for (auto key : kEmailKeys) indexed_field(body, "contacts:EmailAddress", key);
    for (auto key : kPhoneKeys) indexed_field(body, "contacts:PhoneNumber", key);
    for (auto key : kAddressKeys)
      for (auto field : kAddressFields) indexed_field(body, "contacts:PhysicalAddress:" + std::string(field), key);
  }
  body += "</t:AdditionalProperties></m:ItemShape><m:ItemIds>";
  for (const auto& id : ids) {
    body += R"(<t:ItemId Id=")";
    body += xml_escape(id);
    body += R"("/>)";
  }
  body += "</m:ItemIds></m:GetItem>";
  return soap_envelope(target, body);
}

std::string subscribe_request(const Target& target, const std::vector<model::FolderKind>& folders) {
  std::string body = R"(<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>)";
  for (auto folder : folders) body += distinguished_folder_id(target, model::folder_name(folder));
  body += R"(</t:FolderIds><t:EventTypes>)";
  for (std::string_view type : {"CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent"}) {
    body += "<t:EventType>";
    body += type;
    body += "</t:EventType>";
  }
  body += R"(</t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>)";
  return soap_envelope(target, body);
}

std::string get_streaming_events_request(const Target& anchor, const std::vector<std::string>& subscription_ids,
                                         int minutes) {
  std::string body = R"(<m:GetStreamingEvents><m:SubscriptionIds>)";
  for (const auto& id : subscription_ids) body += "<t:SubscriptionId>" + xml_escape(id) + "</t:SubscriptionId>";
  body += "</m:SubscriptionIds><m:ConnectionTimeout>";
  body += std::to_string(std::clamp(minutes, 1, kMaxConnectionMinutes));
  body += "</m:ConnectionTimeout></m:GetStreamingEvents>";
  return soap_envelope(anchor, body);
}

std::optional<std::string> EnvelopeSplitter::next() {
  // An envelope ends with its end tag: "</" then an optional prefix, then "Envelope>".
  static constexpr std::string_view kEnd = "Envelope>";
  for (;;) {
    const auto at = buffer_.find(kEnd, scanned_);
    if (at == std::string::npos) {
      scanned_ = buffer_.size() >= kEnd.size() ? buffer_.size() - kEnd.size() + 1 : 0;
      return std::nullopt;
    }
    auto start = at;
    while (start > 0 && buffer_[start - 1] != '<' && buffer_[start - 1] != '/' && buffer_[start - 1] != '>' &&
           buffer_[start - 1] != ' ')
      --start;
    if (start >= 2 && buffer_[start - 1] == '/' && buffer_[start - 2] == '<' ) {
      const auto end = at + kEnd.size();
      std::string envelope = buffer_.substr(0, end);
      buffer_.erase(0, end);
      scanned_ = 0;
      const auto first = envelope.find_first_not_of(" \t\r\n");
      envelope.erase(0, first == std::string::npos ? envelope.size() : first);
      return envelope;
    }
    scanned_ = at + 1;  // the start tag "<s:Envelope>" or text: not an end
  }
}

}  // namespace exsync::ews
