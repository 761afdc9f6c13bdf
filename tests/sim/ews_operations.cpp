// The simulator's EWS operations, one handler each, over the shared tenant; and how Exchange
// renders contacts and events (schema order, as the captures show).
#include "ews_operations.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <variant>

#include "codec.hpp"
#include "contact_codec.hpp"
#include "event_codec.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/ews/namespaces.hpp"
#include "exsync/ews/requests.hpp"
#include "exsync/ews/xml.hpp"
#include "exsync/model/occurrences.hpp"

namespace exsync::sim {
namespace {

using ews::child;
using ews::child_text;
using ews::is_element;
using ews::kMessagesNs;
using ews::kSoapNs;
using ews::kTypesNs;
using ews::local_name;
using ews::xml_escape;

// The entries of a contact's collections that a GetItem asks for one by one
// (<t:IndexedFieldURI FieldURI="contacts:PhoneNumber" FieldIndex="MobilePhone"/>).
struct AskedEntries {
  std::set<std::string> emails;  // EmailAddress1..3
  std::set<std::string> phones;  // PhoneNumberKeyType
  std::map<std::string, std::set<std::string>> addresses;  // Home/Business/Other -> Street, City, ...
};

AskedEntries asked_entries(const pugi::xml_node& shape) {
  AskedEntries asked;
  for (auto p = child(shape, kTypesNs, "AdditionalProperties").first_child(); p; p = p.next_sibling()) {
    if (!is_element(p, kTypesNs, "IndexedFieldURI")) continue;
    const std::string_view uri = p.attribute("FieldURI").value();
    const std::string index = p.attribute("FieldIndex").value();
    constexpr std::string_view kAddress = "contacts:PhysicalAddress:";
    if (uri == "contacts:EmailAddress") asked.emails.insert(index);
    else if (uri == "contacts:PhoneNumber") asked.phones.insert(index);
    else if (uri.starts_with(kAddress)) asked.addresses[index].insert(std::string(uri.substr(kAddress.size())));
  }
  return asked;
}

// A t:Contact in schema order (ItemType's elements, then ContactItemType's). With `only`, the
// collections hold just the entries (and address fields) it names, and are left out when none.
std::string render_contact_xml(const SimContact& sc, const Mailbox& mb, bool full, const AskedEntries* only) {
  std::string x = "<t:Contact><t:ItemId Id=\"" + sc.id + "\" ChangeKey=\"" + sc.change_key() + "\"/>";
  if (!full) return x + "</t:Contact>";
  const auto& c = sc.contact;
  x += "<t:ParentFolderId Id=\"" + contacts_folder_id(mb) + "\" ChangeKey=\"AQAAAA==\"/>";
  x += "<t:ItemClass>IPM.Contact</t:ItemClass>";
  x += element("Subject", c.display_name);
  x += "<t:Sensitivity>Normal</t:Sensitivity>";
  x += c.notes.empty() ? "<t:Body BodyType=\"Text\"/>" : "<t:Body BodyType=\"Text\">" + xml_escape(c.notes) + "</t:Body>";
  if (!c.categories.empty()) {
    x += "<t:Categories>";
    for (const auto& cat : c.categories) x += "<t:String>" + xml_escape(cat) + "</t:String>";
    x += "</t:Categories>";
  }
  x += "<t:DateTimeCreated>" + format_rfc3339_utc(sc.created) + "</t:DateTimeCreated>";
  x += "<t:LastModifiedName>Exchange Simulator</t:LastModifiedName>";
  x += "<t:LastModifiedTime>" + format_rfc3339_utc(sc.last_modified) + "</t:LastModifiedTime>";
  x += c.file_as.empty() ? "<t:FileAs/>" : element("FileAs", c.file_as);
  x += "<t:FileAsMapping>None</t:FileAsMapping>";
  x += element("DisplayName", c.display_name);
  x += element("GivenName", c.given_name);
  x += element("MiddleName", c.middle_name);
  x += element("Nickname", c.nickname);
  x += "<t:CompleteName>" + element("FirstName", c.given_name) + element("MiddleName", c.middle_name) +
       element("LastName", c.surname) + element("Nickname", c.nickname) + element("FullName", c.display_name) +
       "</t:CompleteName>";
  x += element("CompanyName", c.company);
  std::string entries;
  for (const auto& e : c.emails)
    if (!only || only->emails.contains(e.key))
      entries += "<t:Entry Key=\"" + xml_escape(e.key) + "\" Name=\"" + xml_escape(e.name) +
                 "\" RoutingType=\"SMTP\" MailboxType=\"Contact\">" + xml_escape(e.address) + "</t:Entry>";
  if (!entries.empty()) x += "<t:EmailAddresses>" + entries + "</t:EmailAddresses>";
  entries.clear();
  for (const auto& a : c.addresses) {
    const std::set<std::string>* fields = nullptr;
    if (only) {
      auto it = only->addresses.find(a.key);
      if (it == only->addresses.end()) continue;
      fields = &it->second;
    }
    auto field = [&](const char* name, const std::string& value) {
      return !fields || fields->contains(name) ? element(name, value) : std::string();
    };
    entries += "<t:Entry Key=\"" + xml_escape(a.key) + "\">" + field("Street", a.street) + field("City", a.city) +
               field("State", a.state) + field("CountryOrRegion", a.country) + field("PostalCode", a.postal_code) +
               "</t:Entry>";
  }
  if (!entries.empty()) x += "<t:PhysicalAddresses>" + entries + "</t:PhysicalAddresses>";
  entries.clear();
  for (const auto& p : c.phones)
    if (!only || only->phones.contains(p.key))
      entries += "<t:Entry Key=\"" + xml_escape(p.key) + "\">" + xml_escape(p.number) + "</t:Entry>";
  if (!entries.empty()) x += "<t:PhoneNumbers>" + entries + "</t:PhoneNumbers>";
  if (c.birthday) x += "<t:Birthday>" + format_rfc3339_utc(sc.birthday_instant) + "</t:Birthday>";
  x += element("JobTitle", c.job_title);
  x += element("Surname", c.surname);
  x += "</t:Contact>";
  return x;
}

// A contact's full XML is rendered once per version and then served from memory, as Exchange
// serves an item it has not changed: the simulator's CPU goes to what changed, and benchmarks
// measure the daemon rather than the simulator's XML building.
std::string contact_xml(const SimContact& sc, const Mailbox& mb, bool full, const AskedEntries* only = nullptr) {
  if (!full || only) return render_contact_xml(sc, mb, full, only);
  const SimContact::Rendered key{sc.version, sc.last_seq, sc.extended.size()};
  if (sc.rendered.xml.empty() || !(sc.rendered.key == key)) sc.rendered = {key, render_contact_xml(sc, mb, true, nullptr)};
  return sc.rendered.xml;
}

std::string mailbox_xml(const model::Person& p) {
  return "<t:Mailbox>" + element("Name", p.name) + "<t:EmailAddress>" + xml_escape(p.address) +
         "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox>";
}

std::string_view pattern_element(const std::string& pattern) {
  if (pattern == "daily") return "DailyRecurrence";
  if (pattern == "weekly") return "WeeklyRecurrence";
  if (pattern == "absolute_monthly") return "AbsoluteMonthlyRecurrence";
  if (pattern == "relative_monthly") return "RelativeMonthlyRecurrence";
  if (pattern == "absolute_yearly") return "AbsoluteYearlyRecurrence";
  return "RelativeYearlyRecurrence";
}

// A t:CalendarItem in schema order (ItemType's elements, then CalendarItemType's).
std::string event_xml(const SimEvent& e, const Mailbox& mb, bool full) {
  std::string x = "<t:CalendarItem><t:ItemId Id=\"" + e.id + "\" ChangeKey=\"" + e.change_key() + "\"/>";
  if (!full) return x + "</t:CalendarItem>";
  x += "<t:ParentFolderId Id=\"" + calendar_folder_id(mb) + "\" ChangeKey=\"AQAAAA==\"/>";
  x += "<t:ItemClass>IPM.Appointment</t:ItemClass>";
  x += element("Subject", e.subject);
  x += "<t:Sensitivity>" + e.sensitivity + "</t:Sensitivity>";
  x += e.body.empty() ? "<t:Body BodyType=\"Text\"/>" : "<t:Body BodyType=\"Text\">" + xml_escape(e.body) + "</t:Body>";
  if (!e.categories.empty()) {
    x += "<t:Categories>";
    for (const auto& c : e.categories) x += "<t:String>" + xml_escape(c) + "</t:String>";
    x += "</t:Categories>";
  }
  x += "<t:DateTimeCreated>" + format_rfc3339_utc(e.created) + "</t:DateTimeCreated>";
  x += std::string("<t:ReminderIsSet>") + (e.reminder_minutes ? "true" : "false") + "</t:ReminderIsSet>";
  x += "<t:ReminderMinutesBeforeStart>" + std::to_string(e.reminder_minutes.value_or(15)) + "</t:ReminderMinutesBeforeStart>";
  x += "<t:LastModifiedTime>" + format_rfc3339_utc(e.last_modified) + "</t:LastModifiedTime>";
  x += element("UID", e.uid);
  x += "<t:Start>" + format_rfc3339_utc(e.start) + "</t:Start><t:End>" + format_rfc3339_utc(e.end) + "</t:End>";
  if (!e.exception_of.empty()) x += "<t:OriginalStart>" + format_rfc3339_utc(e.original_start) + "</t:OriginalStart>";
  x += std::string("<t:IsAllDayEvent>") + (e.all_day ? "true" : "false") + "</t:IsAllDayEvent>";
  x += "<t:LegacyFreeBusyStatus>" + e.free_busy + "</t:LegacyFreeBusyStatus>";
  x += element("Location", e.location);
  x += std::string("<t:IsCancelled>") + (e.cancelled ? "true" : "false") + "</t:IsCancelled>";
  // A RecurringMaster reports IsRecurring false, as Exchange does; its occurrences true.
  x += std::string("<t:IsRecurring>") + (e.exception_of.empty() ? "false" : "true") + "</t:IsRecurring>";
  x += std::string("<t:CalendarItemType>") +
       (e.plain_occurrence ? "Occurrence" : !e.exception_of.empty() ? "Exception" : e.recurrence ? "RecurringMaster" : "Single") +
       "</t:CalendarItemType>";
  x += "<t:Organizer>" + mailbox_xml(e.organizer) + "</t:Organizer>";
  for (const auto& [element_name, type] : {std::pair{"RequiredAttendees", "required"}, std::pair{"OptionalAttendees", "optional"},
                                           std::pair{"Resources", "resource"}}) {
    std::string list;
    for (const auto& a : e.attendees)
      if (a.type == type)
        list += "<t:Attendee>" + mailbox_xml({a.name, a.address}) + "<t:ResponseType>" + a.response + "</t:ResponseType></t:Attendee>";
    if (!list.empty()) x += "<t:" + std::string(element_name) + ">" + list + "</t:" + std::string(element_name) + ">";
  }
  if (e.recurrence) {
    const auto& r = *e.recurrence;
    const std::string p(pattern_element(r.pattern));
    x += "<t:Recurrence><t:" + p + ">";
    if (r.pattern.find("relative") != std::string::npos) {
      x += "<t:DaysOfWeek>" + (r.days_of_week.empty() ? std::string("Day") : r.days_of_week.front()) + "</t:DaysOfWeek>";
      x += "<t:DayOfWeekIndex>" + r.day_of_week_index + "</t:DayOfWeekIndex>";
      if (r.pattern == "relative_yearly") x += "<t:Month>" + r.month + "</t:Month>";
      else x += "<t:Interval>" + std::to_string(r.interval) + "</t:Interval>";
    } else if (r.pattern == "absolute_yearly") {
      x += "<t:DayOfMonth>" + std::to_string(r.day_of_month) + "</t:DayOfMonth><t:Month>" + r.month + "</t:Month>";
    } else {
      x += "<t:Interval>" + std::to_string(r.interval) + "</t:Interval>";
      if (r.pattern == "weekly") {
        std::string days;
        for (const auto& d : r.days_of_week) days += (days.empty() ? "" : " ") + d;
        x += "<t:DaysOfWeek>" + days + "</t:DaysOfWeek><t:FirstDayOfWeek>" + r.first_day_of_week + "</t:FirstDayOfWeek>";
      }
      if (r.pattern == "absolute_monthly") x += "<t:DayOfMonth>" + std::to_string(r.day_of_month) + "</t:DayOfMonth>";
    }
    x += "</t:" + p + ">";
    // Exchange writes the range's dates with a zone suffix ("2025-07-02Z", "2026-03-03-08:00").
    const std::string start_date = r.start_date + "Z";
    if (r.range == "numbered")
      x += "<t:NumberedRecurrence><t:StartDate>" + start_date + "</t:StartDate><t:NumberOfOccurrences>" +
           std::to_string(r.count) + "</t:NumberOfOccurrences></t:NumberedRecurrence>";
    else if (r.range == "end_date")
      x += "<t:EndDateRecurrence><t:StartDate>" + start_date + "</t:StartDate><t:EndDate>" + r.end_date +
           "Z</t:EndDate></t:EndDateRecurrence>";
    else
      x += "<t:NoEndRecurrence><t:StartDate>" + start_date + "</t:StartDate></t:NoEndRecurrence>";
    x += "</t:Recurrence>";
  }
  if (e.recurrence) {
    // The series' first occurrence, and its last when the range ends, as they are now.
    const auto all = model::expand(event_as_model(e), e.start - std::chrono::days(1), e.start + std::chrono::days(366 * 30));
    auto info = [&](const char* element_name, const model::Occurrence& o) {
      const auto original = parse_xs_datetime(o.original_start).value_or(e.start);
      const auto own = occurrence_at(e, original);
      return "<t:" + std::string(element_name) + "><t:ItemId Id=\"" + (own ? own->id : e.id) + "\" ChangeKey=\"" +
             e.change_key() + "\"/><t:Start>" + format_rfc3339_utc(parse_xs_datetime(o.start).value_or(original)) +
             "</t:Start><t:End>" + format_rfc3339_utc(parse_xs_datetime(o.end).value_or(original)) + "</t:End><t:OriginalStart>" +
             format_rfc3339_utc(original) + "</t:OriginalStart></t:" + std::string(element_name) + ">";
    };
    if (!all.empty()) {
      x += info("FirstOccurrence", all.front());
      if (e.recurrence->range != "no_end") x += info("LastOccurrence", all.back());
    }
  }
  if (!e.modified.empty()) {
    x += "<t:ModifiedOccurrences>";
    for (const auto& m : e.modified)
      x += "<t:Occurrence><t:ItemId Id=\"" + m.id + "\" ChangeKey=\"" + e.change_key() + "\"/><t:Start>" +
           format_rfc3339_utc(m.start) + "</t:Start><t:End>" + format_rfc3339_utc(m.end) + "</t:End><t:OriginalStart>" +
           format_rfc3339_utc(m.original_start) + "</t:OriginalStart></t:Occurrence>";
    x += "</t:ModifiedOccurrences>";
  }
  if (!e.deleted_occurrences.empty()) {
    x += "<t:DeletedOccurrences>";
    for (const auto& d : e.deleted_occurrences)
      x += "<t:DeletedOccurrence><t:Start>" + format_rfc3339_utc(d) + "</t:Start></t:DeletedOccurrence>";
    x += "</t:DeletedOccurrences>";
  }
  x += element("StartTimeZoneId", e.windows_zone);
  x += "</t:CalendarItem>";
  return x;
}

std::string message_change_key(const SimMessage& m) { return "CQAAABYAAAA" + base64_encode(m.id.substr(m.id.size() - 6)); }

// A t:Message of Sent Items in schema order (ItemType's elements, then MessageType's), with what
// Exchange answers a client's default shape with: body, recipients, attachments, times, flags.
std::string message_xml(const SimMessage& m, const Mailbox& mb, bool full) {
  std::string x = "<t:Message><t:ItemId Id=\"" + m.id + "\" ChangeKey=\"" + message_change_key(m) + "\"/>";
  if (!full) return x + element("Subject", m.subject) + "<t:DateTimeSent>" + format_rfc3339_utc(m.sent) + "</t:DateTimeSent></t:Message>";
  const auto sent = format_rfc3339_utc(m.sent);
  x += "<t:ParentFolderId Id=\"AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":folder:sentitems") + "\" ChangeKey=\"AQAAAA==\"/>";
  x += "<t:ItemClass>IPM.Note</t:ItemClass>";
  x += element("Subject", m.subject);
  x += "<t:Sensitivity>Normal</t:Sensitivity>";
  x += std::string("<t:Body BodyType=\"") + (m.html ? "HTML" : "Text") + "\">" + xml_escape(m.body) + "</t:Body>";
  std::size_t size = m.subject.size() + m.body.size();
  if (!m.attachment_names.empty()) {
    x += "<t:Attachments>";
    for (std::size_t i = 0; i < m.attachment_names.size(); ++i) {
      const auto bytes = i < m.attachment_sizes.size() ? m.attachment_sizes[i] : 0;
      size += bytes;
      x += "<t:FileAttachment><t:AttachmentId Id=\"" + m.id + "_" + std::to_string(i) + "\"/>" +
           element("Name", m.attachment_names[i]) +
           element("ContentType", i < m.attachment_types.size() ? m.attachment_types[i] : "application/octet-stream") +
           "<t:Size>" + std::to_string(bytes) + "</t:Size><t:IsInline>false</t:IsInline></t:FileAttachment>";
    }
    x += "</t:Attachments>";
  }
  x += "<t:DateTimeReceived>" + sent + "</t:DateTimeReceived>";
  x += "<t:Size>" + std::to_string(size) + "</t:Size>";
  x += "<t:Importance>Normal</t:Importance>";
  x += "<t:IsSubmitted>false</t:IsSubmitted><t:IsDraft>false</t:IsDraft><t:IsFromMe>false</t:IsFromMe>"
       "<t:IsResend>false</t:IsResend><t:IsUnmodified>false</t:IsUnmodified>";
  x += "<t:DateTimeSent>" + sent + "</t:DateTimeSent><t:DateTimeCreated>" + sent + "</t:DateTimeCreated>";
  x += "<t:ReminderIsSet>false</t:ReminderIsSet>";
  auto display = [](const std::vector<std::string>& list) {
    std::string out;
    for (const auto& a : list) out += (out.empty() ? "" : "; ") + a;
    return out;
  };
  x += element("DisplayCc", display(m.cc)) + element("DisplayTo", display(m.to));
  x += std::string("<t:HasAttachments>") + (m.attachment_names.empty() ? "false" : "true") + "</t:HasAttachments>";
  x += "<t:Culture>en-US</t:Culture>";
  x += "<t:LastModifiedName>" + xml_escape(mb.address) + "</t:LastModifiedName><t:LastModifiedTime>" + sent + "</t:LastModifiedTime>";
  x += "<t:IsAssociated>false</t:IsAssociated>";
  const std::string self = "<t:Mailbox><t:EmailAddress>" + xml_escape(mb.address) +
                           "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox>";
  x += "<t:Sender>" + self + "</t:Sender>";
  auto recipients = [](const char* name, const std::vector<std::string>& list) {
    if (list.empty()) return std::string();
    std::string out = "<t:" + std::string(name) + ">";
    for (const auto& a : list)
      out += "<t:Mailbox><t:EmailAddress>" + xml_escape(a) + "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
             "<t:MailboxType>OneOff</t:MailboxType></t:Mailbox>";
    return out + "</t:" + std::string(name) + ">";
  };
  x += recipients("ToRecipients", m.to) + recipients("CcRecipients", m.cc) + recipients("BccRecipients", m.bcc);
  x += "<t:IsReadReceiptRequested>false</t:IsReadReceiptRequested><t:IsDeliveryReceiptRequested>false</t:IsDeliveryReceiptRequested>";
  x += element("ConversationTopic", m.subject);
  x += "<t:From>" + self + "</t:From>";
  x += "<t:InternetMessageId>&lt;" + m.id.substr(6, 16) + "@contoso.onmicrosoft.com&gt;</t:InternetMessageId>";
  x += "<t:IsRead>true</t:IsRead><t:IsResponseRequested>false</t:IsResponseRequested>";
  return x + "</t:Message>";
}

// Whether the request asks for more than ids (exchangelib asks SyncFolderItems for full items).
bool wants_full_items(const pugi::xml_node& shape) {
  return child_text(shape, kTypesNs, "BaseShape") != "IdOnly" || child(shape, kTypesNs, "AdditionalProperties");
}

// FindItem with the restriction exsync uses (IsEqualTo on an extended property), or none.
template <typename Items, typename Tags, typename Render>
http::Response find_items(const pugi::xml_node& op, const Items& items, Tags&& tags_of, Render&& render) {
  const std::string name = "FindItem";
  auto equal = child(child(op, kMessagesNs, "Restriction"), kTypesNs, "IsEqualTo");
  std::string key, value;
  if (equal) {
    key = extended_key(child(equal, kTypesNs, "ExtendedFieldURI"));
    value = child(child(equal, kTypesNs, "FieldURIOrConstant"), kTypesNs, "Constant").attribute("Value").value();
  }
  const bool full = wants_full_items(child(op, kMessagesNs, "ItemShape"));
  std::string xml;
  int n = 0;
  for (const auto& item : items) {
    const auto* tags = tags_of(item);
    if (!tags) continue;  // deleted
    if (equal) {
      auto it = tags->find(key);
      if (it == tags->end() || it->second != value) continue;
    }
    xml += render(item, full);
    ++n;
  }
  return operation_response(name, success_open(name) + "<m:RootFolder TotalItemsInView=\"" + std::to_string(n) +
                                      "\" IncludesLastItemInRange=\"true\"><t:Items>" + xml +
                                      "</t:Items></m:RootFolder></m:FindItemResponseMessage>");
}

// SyncFolderItems on one folder: the sync state, paging and net changes as Exchange answers them.
template <typename ChangesFn, typename RenderFn>
http::Response sync_folder_items(const pugi::xml_node& op, const Tenant& tenant, const Mailbox& mb,
                                 std::string_view folder, ChangesFn&& changes_since, RenderFn&& render) {
  const std::string name = "SyncFolderItems";
  const std::string state = child_text(op, kMessagesNs, "SyncState");
  std::uint64_t since = 0;
  if (!state.empty()) {
    auto parsed = tenant.parse_sync_state(mb, folder, state);
    if (!parsed)
      return operation_response(
          name, error_message(name, "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.",
                              "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"));
    since = *parsed;
  }
  const int max = std::atoi(child_text(op, kMessagesNs, "MaxChangesReturned").c_str());
  if (max < 1 || max > 512)
    return operation_response(name, error_message(name, "ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512."));
  const bool full = wants_full_items(child(op, kMessagesNs, "ItemShape"));
  std::uint64_t next = 0;
  bool last = true;
  const auto changes = changes_since(since, max, next, last);
  std::string msg = success_open(name);
  msg += "<m:SyncState>" + tenant.sync_state(mb, folder, next) + "</m:SyncState>";
  msg += std::string("<m:IncludesLastItemInRange>") + (last ? "true" : "false") + "</m:IncludesLastItemInRange>";
  msg += changes.empty() ? "<m:Changes/>" : "<m:Changes>";
  for (const auto& ch : changes) {
    switch (ch.type) {
      case ChangeType::create: msg += "<t:Create>" + render(*ch.item, full) + "</t:Create>"; break;
      case ChangeType::update: msg += "<t:Update>" + render(*ch.item, full) + "</t:Update>"; break;
      case ChangeType::remove:
        msg += "<t:Delete><t:ItemId Id=\"" + ch.item->id + "\" ChangeKey=\"" + ch.item->change_key() + "\"/></t:Delete>";
        break;
    }
  }
  if (!changes.empty()) msg += "</m:Changes>";
  msg += "</m:SyncFolderItemsResponseMessage>";
  return operation_response(name, msg);
}

// SyncFolderItems on the contacts folder or the calendar.
http::Response sync_folder_items_op(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  auto folder_id = child(op, kMessagesNs, "SyncFolderId");
  if (is_distinguished(folder_id, "calendar")) {
    return sync_folder_items(op, c.tenant, c.mb, "calendar",
                             [&](std::uint64_t since, int max, std::uint64_t& next, bool& last) {
                               return c.tenant.event_changes_since(c.mb, since, max, next, last);
                             },
                             [&](const SimEvent& e, bool full) { return event_xml(e, c.mb, full); });
  }
  if (is_contacts_folder(folder_id, c.mb)) {
    return sync_folder_items(op, c.tenant, c.mb, "contacts",
                             [&](std::uint64_t since, int max, std::uint64_t& next, bool& last) {
                               return c.tenant.changes_since(c.mb, since, max, next, last);
                             },
                             [&](const SimContact& sc, bool full) { return contact_xml(sc, c.mb, full); });
  }
  return operation_response(name, error_message(name, "ErrorFolderNotFound",
                                                "The specified folder could not be found in the store."));
}

// An occurrence of a series a request names.
struct Occurrence {
  std::string series;
  SysSeconds original;
  std::string change_key;  // as given
};

// The occurrence `id` (a t:OccurrenceItemId, or the t:ItemId of a changed occurrence) names;
// std::monostate when it names no occurrence; the response message refusing it, as Exchange
// words it, when the pattern has no such occurrence.
std::variant<std::monostate, Occurrence, std::string> occurrence_addressed(EwsCall& c, const pugi::xml_node&,
                                                                           const pugi::xml_node& id) {
  if (is_element(id, kTypesNs, "ItemId")) {
    auto of = c.tenant.occurrence_of(c.mb, id.attribute("Id").value());
    if (!of) return std::monostate{};
    return Occurrence{of->first, of->second, id.attribute("ChangeKey").value()};
  }
  if (!is_element(id, kTypesNs, "OccurrenceItemId")) return std::monostate{};
  const SimEvent* series = c.tenant.find_event(c.mb, id.attribute("RecurringMasterId").value());
  if (!series)
    return error_message(c.name, "ErrorItemNotFound", "The specified object was not found in the store.", "<m:Items/>");
  if (!series->recurrence)
    return error_message(c.name, "ErrorItemNotFound", "The recurring master item is not a recurring master.", "<m:Items/>");
  const auto original = occurrence_at_index(*series, std::atoi(id.attribute("InstanceIndex").value()));
  if (!original)
    return error_message(c.name, "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
                         "Occurrence index is out of recurrence range.", "<m:Items/>");
  if (std::find(series->deleted_occurrences.begin(), series->deleted_occurrences.end(), *original) !=
      series->deleted_occurrences.end())
    return error_message(c.name, "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
                         "Occurrence with this index was previously deleted from the recurrence.", "<m:Items/>");
  return Occurrence{series->id, *original, id.attribute("ChangeKey").value()};
}

std::variant<std::monostate, Occurrence, std::string> occurrence_addressed(EwsCall& c, const pugi::xml_node& change) {
  for (auto id = change.first_child(); id; id = id.next_sibling())
    if (is_element(id, kTypesNs, "ItemId") || is_element(id, kTypesNs, "OccurrenceItemId"))
      return occurrence_addressed(c, change, id);
  return std::monostate{};
}

// GetItem: contacts and events in full, a poisoned item refused with its code.
http::Response get_item(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  std::optional<AskedEntries> asked;
  if (c.tenant.per_entry_fields_only) asked = asked_entries(child(op, kMessagesNs, "ItemShape"));
  std::string msgs;
  auto ids = child(op, kMessagesNs, "ItemIds");
  for (auto id = ids.first_child(); id; id = id.next_sibling()) {
    if (id.type() != pugi::node_element) continue;
    // An occurrence by its series and place (OccurrenceItemId), a series by one of its
    // occurrences (RecurringMasterItemId): answered as the item they name.
    std::optional<SimEvent> named;
    const SimEvent* master = nullptr;
    if (is_element(id, kTypesNs, "OccurrenceItemId")) {
      auto at = occurrence_addressed(c, ids, id);
      if (auto* refused = std::get_if<std::string>(&at)) {
        msgs += *refused;
        continue;
      }
      if (const auto* o = std::get_if<Occurrence>(&at)) named = occurrence_at(*c.tenant.find_event(c.mb, o->series), o->original);
      if (!named) {
        msgs += error_message(name, "ErrorItemNotFound", "The specified object was not found in the store.", "<m:Items/>");
        continue;
      }
    } else if (is_element(id, kTypesNs, "RecurringMasterItemId")) {
      auto of = c.tenant.occurrence_of(c.mb, id.attribute("OccurrenceId").value());
      master = of ? c.tenant.find_event(c.mb, of->first) : nullptr;
      if (!master) {
        msgs += error_message(name, "ErrorItemNotFound", "The specified object was not found in the store.", "<m:Items/>");
        continue;
      }
    } else if (!is_element(id, kTypesNs, "ItemId")) {
      continue;
    }
    if (named || master) {
      msgs += success_open(name) + "<m:Items>" + event_xml(named ? *named : *master, c.mb, true) + "</m:Items></m:GetItemResponseMessage>";
      continue;
    }
    if (auto m = std::find_if(c.mb.sent_items.begin(), c.mb.sent_items.end(),
                              [&](const SimMessage& m) { return m.id == id.attribute("Id").value(); });
        m != c.mb.sent_items.end()) {
      msgs += success_open(name) + "<m:Items>" + message_xml(*m, c.mb, true) + "</m:Items></m:GetItemResponseMessage>";
      continue;
    }
    const SimContact* sc = c.tenant.find_contact(c.mb, id.attribute("Id").value());
    const SimEvent* ev = sc ? nullptr : c.tenant.find_event(c.mb, id.attribute("Id").value());
    // A modified occurrence is an item of its own (CalendarItemType Exception).
    std::optional<SimEvent> occurrence;
    if (!sc && !ev && (occurrence = c.tenant.find_occurrence(c.mb, id.attribute("Id").value()))) ev = &*occurrence;
    if (auto poison = c.mb.poisoned.find(id.attribute("Id").value()); poison != c.mb.poisoned.end() && (sc || ev)) {
      msgs += error_message(name, poison->second, "The item cannot be read: its data in the store is damaged.",
                            "<m:Items/>");
      continue;
    }
    if (!sc && !ev) {
      msgs += error_message(name, "ErrorItemNotFound",
                            "The specified object was not found in the store., The process failed to get the "
                            "correct properties.",
                            "<m:Items/>");
      continue;
    }
    msgs += success_open(name) + "<m:Items>" +
            (sc ? contact_xml(*sc, c.mb, true, asked ? &*asked : nullptr) : event_xml(*ev, c.mb, true)) +
            "</m:Items></m:GetItemResponseMessage>";
  }
  return operation_response(name, msgs);
}

// GetFolder: the contacts folder, the calendar, Sent Items and the root.
http::Response get_folder(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  std::string msgs;
  auto ids = child(op, kMessagesNs, "FolderIds");
  for (auto f = ids.first_child(); f; f = f.next_sibling()) {
    if (f.type() != pugi::node_element) continue;
    std::string_view id = f.attribute("Id").value();
    const bool contacts = (is_element(f, kTypesNs, "DistinguishedFolderId") && id == "contacts") ||
                          id == contacts_folder_id(c.mb);
    const bool root = (is_element(f, kTypesNs, "DistinguishedFolderId") && (id == "root" || id == "msgfolderroot")) ||
                      id == root_folder_id(c.mb);
    if (contacts) {
      int total = 0;
      for (const auto& [_, sc] : c.mb.contacts) total += sc.deleted ? 0 : 1;
      msgs += success_open(name) + "<m:Folders><t:ContactsFolder><t:FolderId Id=\"" + contacts_folder_id(c.mb) +
              "\" ChangeKey=\"AQAAAA==\"/><t:ParentFolderId Id=\"" + root_folder_id(c.mb) +
              "\" ChangeKey=\"AQAAAA==\"/><t:FolderClass>IPF.Contact</t:FolderClass><t:DisplayName>Contacts</t:DisplayName>"
              "<t:TotalCount>" + std::to_string(total) + "</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
              "</t:ContactsFolder></m:Folders></m:GetFolderResponseMessage>";
    } else if ((is_element(f, kTypesNs, "DistinguishedFolderId") && id == "calendar") || id == calendar_folder_id(c.mb)) {
      int total = 0;
      for (const auto& [_, ev] : c.mb.calendar.events) total += ev.deleted ? 0 : 1;
      msgs += success_open(name) + "<m:Folders><t:CalendarFolder><t:FolderId Id=\"" + calendar_folder_id(c.mb) +
              "\" ChangeKey=\"AgAAAA==\"/><t:FolderClass>IPF.Appointment</t:FolderClass><t:DisplayName>Calendar</t:DisplayName>"
              "<t:TotalCount>" + std::to_string(total) + "</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
              "</t:CalendarFolder></m:Folders></m:GetFolderResponseMessage>";
    } else if (is_element(f, kTypesNs, "DistinguishedFolderId") && id == "sentitems") {
      msgs += success_open(name) + "<m:Folders><t:Folder><t:FolderId Id=\"AAMkAD" +
              base64_encode("exsim:" + c.mb.guid_tag + ":folder:sentitems") +
              "\" ChangeKey=\"AQAAAA==\"/><t:FolderClass>IPF.Note</t:FolderClass><t:DisplayName>Sent Items</t:DisplayName>"
              "<t:TotalCount>" + std::to_string(c.mb.sent_items.size()) + "</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
              "<t:UnreadCount>0</t:UnreadCount></t:Folder></m:Folders></m:GetFolderResponseMessage>";
    } else if (root) {
      msgs += success_open(name) + "<m:Folders><t:Folder><t:FolderId Id=\"" + root_folder_id(c.mb) +
              "\" ChangeKey=\"AQAAAA==\"/><t:DisplayName>Top of Information Store</t:DisplayName>"
              "<t:TotalCount>0</t:TotalCount><t:ChildFolderCount>1</t:ChildFolderCount><t:UnreadCount>0</t:UnreadCount>"
              "</t:Folder></m:Folders></m:GetFolderResponseMessage>";
    } else {
      msgs += error_message(name, "ErrorFolderNotFound", "The specified folder could not be found in the store.",
                            "<m:Folders/>");
    }
  }
  return operation_response(name, msgs);
}

// CreateItem of messages: sent, and their copy saved in Sent Items.
http::Response send_items(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  // Sending: the message is delivered (not simulated further) and its copy saved in Sent Items.
  const std::string_view disposition = op.attribute("MessageDisposition").value();
  if (disposition != "SendAndSaveCopy" && disposition != "SendOnly")
    return operation_response(name, error_message(name, "ErrorInvalidRequest",
                                                  "The simulator only sends messages (SendAndSaveCopy, SendOnly).",
                                                  "<m:Items/>"));
  // send_refused_saved: gromox refuses the send yet has saved the copy already.
  const bool refuse = c.refuse_send;
  std::string msgs;
  auto items = child(op, kMessagesNs, "Items");
  for (auto item = items.first_child(); item; item = item.next_sibling()) {
    if (!is_element(item, kTypesNs, "Message")) continue;
    SimMessage m;
    m.id = "AAMkAD" + base64_encode("exsim:" + c.mb.guid_tag + ":sent:" + std::to_string(c.mb.sent_items.size() + 1));
    m.subject = child_text(item, kTypesNs, "Subject");
    auto body = child(item, kTypesNs, "Body");
    m.body = body.text().get();
    m.html = std::string_view(body.attribute("BodyType").value()) == "HTML";
    auto addresses = [&](const char* element, std::vector<std::string>& out) {
      for (auto mbx = child(item, kTypesNs, element).first_child(); mbx; mbx = mbx.next_sibling())
        out.push_back(child_text(mbx, kTypesNs, "EmailAddress"));
    };
    addresses("ToRecipients", m.to);
    addresses("CcRecipients", m.cc);
    addresses("BccRecipients", m.bcc);
    for (auto a = child(item, kTypesNs, "Attachments").first_child(); a; a = a.next_sibling()) {
      if (a.type() != pugi::node_element) continue;
      m.attachment_names.push_back(child_text(a, kTypesNs, "Name"));
      m.attachment_types.push_back(child_text(a, kTypesNs, "ContentType"));
      m.attachment_sizes.push_back(base64_decode(child_text(a, kTypesNs, "Content")).value_or("").size());
    }
    for (auto p = item.first_child(); p; p = p.next_sibling())
      if (is_element(p, kTypesNs, "ExtendedProperty"))
        m.extended[extended_key(child(p, kTypesNs, "ExtendedFieldURI"))] = child_text(p, kTypesNs, "Value");
    m.sent = c.tenant.now();
    if (c.delegate) {
      // A c.delegate sends as the owner (From) only with Send As; without From it would send as
      // itself, which has no mailbox here.
      const auto from = normalize_mailbox_address(child_text(child(child(item, kTypesNs, "From"), kTypesNs, "Mailbox"),
                                                             kTypesNs, "EmailAddress"));
      if (from != c.mb.address || !c.tenant.send_as) {
        msgs += error_message(name, "ErrorSendAsDenied",
                              "The user account which was used to submit this request does not have the right to "
                              "send mail on behalf of the specified sending account., Cannot submit message.",
                              "<m:Items/>");
        continue;
      }
    }
    if (m.to.empty() && m.cc.empty() && m.bcc.empty()) {
      msgs += error_message(name, "ErrorInvalidRecipients", "At least one recipient isn't valid.", "<m:Items/>");
      continue;
    }
    if (refuse) {
      m.delivered = false;
      ++c.stats.refused_sends;
      c.refused_send = true;
    }
    if (disposition == "SendAndSaveCopy") c.mb.sent_items.push_back(std::move(m));
    msgs += success_open(name) + "<m:Items/></m:CreateItemResponseMessage>";
  }
  if (c.refused_send) return fault("ErrorInternalServerError", "The message could not be sent.");
  return operation_response(name, msgs);
}

// CreateItem of calendar items.
http::Response create_events(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  const std::string_view invitations = op.attribute("SendMeetingInvitations").value();
  if (invitations.empty())
    return fault("ErrorSchemaValidation", "SendMeetingInvitations is required when creating calendar items.");
  std::string msgs;
  for (auto item = child(op, kMessagesNs, "Items").first_child(); item; item = item.next_sibling()) {
    if (!is_element(item, kTypesNs, "CalendarItem")) continue;
    const auto& created = c.tenant.add_event(c.mb, read_written_event(item));
    if (invitations != "SendToNone") c.stats.invitations_sent += static_cast<int>(created.attendees.size());
    msgs += success_open(name) + "<m:Items>" + event_xml(created, c.mb, false) + "</m:Items></m:CreateItemResponseMessage>";
  }
  return operation_response(name, msgs);
}

// CreateItem of contacts.
http::Response create_contacts(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  auto saved = child(op, kMessagesNs, "SavedItemFolderId");
  if (saved && !is_contacts_folder(saved, c.mb))
    return operation_response(name, error_message(name, "ErrorFolderNotFound",
                                                  "The specified folder could not be found in the store.", "<m:Items/>"));
  std::string msgs;
  auto items = child(op, kMessagesNs, "Items");
  for (auto item = items.first_child(); item; item = item.next_sibling()) {
    if (!is_element(item, kTypesNs, "Contact")) continue;
    auto written = read_written_contact(item);
    const auto& created = c.tenant.create_contact(c.mb, written.contact);
    auto& stored = c.mb.contacts.at(created.id);
    stored.extended = written.extended;
    if (written.birthday_instant) stored.birthday_instant = *written.birthday_instant;
    msgs += success_open(name) + "<m:Items>" + contact_xml(stored, c.mb, false) + "</m:Items></m:CreateItemResponseMessage>";
  }
  return operation_response(name, msgs);
}

// Exchange's change key rules for an update: without AlwaysOverwrite a ChangeKey is required,
// and a stale one is a conflict the client must resolve. The response message refusing it, if so.
std::optional<std::string> change_key_refusal(const std::string& name, std::string_view resolution,
                                              const std::string& given, const std::string& current) {
  if (resolution == "AlwaysOverwrite") return std::nullopt;
  if (given.empty())
    return error_message(name, "ErrorChangeKeyRequiredForWriteOperations",
                         "When making a write operation on an item, you must supply a change key.", "<m:Items/>");
  if (given != current)
    return error_message(name, "ErrorIrresolvableConflict",
                         "The send or update operation could not be performed because the change key passed in the "
                         "request does not match the current change key for the item.",
                         "<m:Items/>");
  return std::nullopt;
}

// The response message of one item updated: the item as it is now (ids and change key).
std::string updated_message(const std::string& name, const std::string& item_xml) {
  return success_open(name) + "<m:Items>" + item_xml +
         "</m:Items><m:ConflictResults><m:Count>0</m:Count></m:ConflictResults></m:UpdateItemResponseMessage>";
}

// UpdateItem of contacts and events, with Exchange's change key rules.
http::Response update_item(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  const std::string_view resolution = op.attribute("ConflictResolution").value();
  std::string msgs;
  auto changes = child(op, kMessagesNs, "ItemChanges");
  for (auto change = changes.first_child(); change; change = change.next_sibling()) {
    if (!is_element(change, kTypesNs, "ItemChange")) continue;
    auto id = child(change, kTypesNs, "ItemId");
    // One occurrence of a series: by its place in the pattern, or by its own id once changed.
    auto occurrence = occurrence_addressed(c, change);
    if (auto* refused = std::get_if<std::string>(&occurrence)) {
      msgs += *refused;
      continue;
    }
    if (const auto* at = std::get_if<Occurrence>(&occurrence)) {
      if (op.attribute("SendMeetingInvitationsOrCancellations").empty()) {
        msgs += error_message(name, "ErrorSchemaValidation",
                              "SendMeetingInvitationsOrCancellations is required when updating calendar items.", "<m:Items/>");
        continue;
      }
      const SimEvent* series = c.tenant.find_event(c.mb, at->series);
      auto it = std::find_if(series->modified.begin(), series->modified.end(),
                             [&](const auto& m) { return m.original_start == at->original; });
      SimEvent::Exception plain;
      plain.original_start = plain.start = at->original;
      plain.end = at->original + (series->end - series->start);
      SimEvent own = occurrence_item(*series, it != series->modified.end() ? *it : plain);
      if (auto refused = change_key_refusal(name, resolution, at->change_key, it != series->modified.end() ? own.change_key() : series->change_key())) {
        msgs += *refused;
        continue;
      }
      if (auto problem = apply_event_updates(child(change, kTypesNs, "Updates"), own)) {
        msgs += error_message(name, "ErrorInvalidPropertyRequest", *problem, "<m:Items/>");
        continue;
      }
      if (own.recurrence) {
        msgs += error_message(name, "ErrorInvalidPropertyRequest", "An occurrence has no recurrence of its own.", "<m:Items/>");
        continue;
      }
      const SimEvent* after = c.tenant.write_occurrence(c.mb, at->series, at->original, own);
      auto written = std::find_if(after->modified.begin(), after->modified.end(),
                                  [&](const auto& m) { return m.original_start == at->original; });
      msgs += updated_message(name, event_xml(occurrence_item(*after, *written), c.mb, false));
      continue;
    }
    if (const SimEvent* ev = c.tenant.find_event(c.mb, id.attribute("Id").value())) {
      if (op.attribute("SendMeetingInvitationsOrCancellations").empty()) {
        msgs += error_message(name, "ErrorSchemaValidation",
                              "SendMeetingInvitationsOrCancellations is required when updating calendar items.", "<m:Items/>");
        continue;
      }
      if (auto refused = change_key_refusal(name, resolution, id.attribute("ChangeKey").value(), ev->change_key())) {
        msgs += *refused;
        continue;
      }
      SimEvent changed = *ev;
      if (auto problem = apply_event_updates(child(change, kTypesNs, "Updates"), changed)) {
        msgs += error_message(name, "ErrorInvalidPropertyRequest", *problem, "<m:Items/>");
        continue;
      }
      msgs += updated_message(name, event_xml(*c.tenant.write_event(c.mb, ev->id, changed), c.mb, false));
      continue;
    }
    const SimContact* sc = c.tenant.find_contact(c.mb, id.attribute("Id").value());
    if (!sc) {
      msgs += error_message(name, "ErrorItemNotFound", "The specified object was not found in the store.", "<m:Items/>");
      continue;
    }
    if (auto refused = change_key_refusal(name, resolution, id.attribute("ChangeKey").value(), sc->change_key())) {
      msgs += *refused;
      continue;
    }
    WrittenContact w{sc->contact, sc->contact.birthday ? std::optional<SysSeconds>(sc->birthday_instant) : std::nullopt, sc->extended};
    if (auto problem = apply_updates(child(change, kTypesNs, "Updates"), w)) {
      msgs += error_message(name, "ErrorInvalidPropertyRequest", *problem, "<m:Items/>");
      continue;
    }
    msgs += updated_message(name, contact_xml(*c.tenant.write_contact(c.mb, sc->id, w.contact, w.birthday_instant), c.mb, false));
  }
  return operation_response(name, msgs);
}

// DeleteItem.
http::Response delete_item(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  std::string msgs;
  auto ids = child(op, kMessagesNs, "ItemIds");
  for (auto id = ids.first_child(); id; id = id.next_sibling()) {
    if (id.type() != pugi::node_element) continue;
    auto occurrence = occurrence_addressed(c, ids, id);
    if (auto* refused = std::get_if<std::string>(&occurrence)) {
      msgs += *refused;
      continue;
    }
    if (const auto* at = std::get_if<Occurrence>(&occurrence)) {
      c.tenant.cancel_occurrence(c.mb, at->series, at->original);
      msgs += success_open(name) + "</m:DeleteItemResponseMessage>";
      continue;
    }
    if (!is_element(id, kTypesNs, "ItemId")) continue;
    if (c.tenant.delete_contact(c.mb, id.attribute("Id").value()) || c.tenant.delete_event(c.mb, id.attribute("Id").value()))
      msgs += success_open(name) + "</m:DeleteItemResponseMessage>";
    else
      msgs += error_message(name, "ErrorItemNotFound", "The specified object was not found in the store.");
  }
  return operation_response(name, msgs);
}

// FindItem with a CalendarView: what is on the calendar in [StartDate, EndDate), series expanded
// into their occurrences (CalendarItemType Occurrence) and exceptions, masters left out, in start
// order, at most MaxEntriesReturned of them.
http::Response calendar_view(EwsCall& c) {
  const auto view = child(c.op, kMessagesNs, "CalendarView");
  const auto from = parse_xs_datetime(view.attribute("StartDate").value());
  const auto to = parse_xs_datetime(view.attribute("EndDate").value());
  if (!from || !to || *to < *from)
    return operation_response(c.name, error_message(c.name, "ErrorCalendarEndDateIsEarlierThanStartDate",
                                                    "EndDate is earlier than StartDate"));
  std::vector<SimEvent> items;
  for (const auto& [_, e] : c.mb.calendar.events) {
    if (e.deleted) continue;
    if (!e.recurrence) {
      if (e.start < *to && (e.end > *from || (e.end == e.start && e.start >= *from))) items.push_back(e);
      continue;
    }
    for (const auto& o : model::expand(event_as_model(e), *from, *to))
      if (auto at = parse_xs_datetime(o.original_start))
        if (auto item = occurrence_at(e, *at)) items.push_back(std::move(*item));
  }
  std::stable_sort(items.begin(), items.end(), [](const SimEvent& a, const SimEvent& b) { return a.start < b.start; });
  const int max = std::atoi(view.attribute("MaxEntriesReturned").value());
  const bool all = max <= 0 || static_cast<std::size_t>(max) >= items.size();
  if (!all) items.resize(static_cast<std::size_t>(max));
  const bool full = wants_full_items(child(c.op, kMessagesNs, "ItemShape"));
  std::string xml;
  for (const auto& e : items) xml += event_xml(e, c.mb, full);
  return operation_response(c.name, success_open(c.name) + "<m:RootFolder TotalItemsInView=\"" + std::to_string(items.size()) +
                                        "\" IncludesLastItemInRange=\"" + (all ? "true" : "false") + "\"><t:Items>" + xml +
                                        "</t:Items></m:RootFolder></m:FindItemResponseMessage>");
}

// FindItem in Sent Items, the calendar or the contacts folder.
http::Response find_item(EwsCall& c) {
  const auto& op = c.op;
  const std::string& name = c.name;
  auto parent = child(op, kMessagesNs, "ParentFolderIds");
  if (is_distinguished(parent, "sentitems")) {
    return find_items(op, c.mb.sent_items, [](const SimMessage& m) { return &m.extended; },
                      [&](const SimMessage& m, bool full) { return message_xml(m, c.mb, full); });
  }
  if (is_distinguished(parent, "calendar") && child(op, kMessagesNs, "CalendarView")) return calendar_view(c);
  if (is_distinguished(parent, "calendar")) {
    return find_items(op, c.mb.calendar.events,
                      [](const auto& entry) { return entry.second.deleted ? nullptr : &entry.second.extended; },
                      [&](const auto& entry, bool full) { return event_xml(entry.second, c.mb, full); });
  }
  if (is_contacts_folder(parent, c.mb)) {
    return find_items(op, c.mb.contacts,
                      [](const auto& entry) { return entry.second.deleted ? nullptr : &entry.second.extended; },
                      [&](const auto& entry, bool full) { return contact_xml(entry.second, c.mb, full); });
  }
  return operation_response(name, error_message(name, "ErrorFolderNotFound",
                                                "The specified folder could not be found in the store."));
}

}  // namespace

const EwsOperation* ews_operation(std::string_view name, const pugi::xml_node& op) {
  static const EwsOperation sync = sync_folder_items_op, get = get_item, folder = get_folder, send = send_items,
                            events = create_events, contacts = create_contacts, update = update_item,
                            remove = delete_item, find = find_item;
  if (name == "SyncFolderItems") return &sync;
  if (name == "GetItem") return &get;
  if (name == "GetFolder") return &folder;
  if (name == "CreateItem") {
    auto items = ews::child(op, ews::kMessagesNs, "Items");
    if (ews::child(items, ews::kTypesNs, "Message")) return &send;
    if (ews::child(items, ews::kTypesNs, "CalendarItem")) return &events;
    return &contacts;
  }
  if (name == "UpdateItem") return &update;
  if (name == "DeleteItem") return &remove;
  if (name == "FindItem") return &find;
  return nullptr;
}

}  // namespace exsync::sim
