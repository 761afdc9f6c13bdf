#include "exsync/ews/write_requests.hpp"

#include "exsync/ews/requests.hpp"
#include "exsync/model/time_zone.hpp"
#include "soap.hpp"

namespace exsync::ews {
namespace {

std::string text_element(std::string_view name, std::string_view value) {
  if (value.empty()) return {};
  return "<t:" + std::string(name) + ">" + xml_escape(value) + "</t:" + std::string(name) + ">";
}

std::string tag_property(std::string_view local_id) {
  return "<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId=\"" + std::string(kTagPropertySetId) +
         "\" PropertyName=\"" + std::string(kTagPropertyName) + "\" PropertyType=\"String\"/><t:Value>" +
         xml_escape(local_id) + "</t:Value></t:ExtendedProperty>";
}

// Written as 11:59 UTC, as Outlook 2013 and later do: every zone from UTC-11 to UTC+12 shows it
// on the intended date, and contact_xml.cpp's nearest-midnight rule reads back the same date
// (noon itself would be the tie that rounds to the next day).
std::string birthday_value(const std::chrono::year_month_day& d) { return format_date(d) + "T11:59:00Z"; }

std::string categories_xml(const std::vector<std::string>& cats) {
  std::string x = "<t:Categories>";
  for (const auto& c : cats) x += "<t:String>" + xml_escape(c) + "</t:String>";
  return x + "</t:Categories>";
}

std::string email_entry(const model::EmailAddress& e) {
  std::string x = "<t:Entry Key=\"" + xml_escape(e.key) + "\"";
  if (!e.name.empty()) x += " Name=\"" + xml_escape(e.name) + "\"";
  return x + ">" + xml_escape(e.address) + "</t:Entry>";
}

std::string address_entry(const model::PostalAddress& a) {
  return "<t:Entry Key=\"" + xml_escape(a.key) + "\">" + text_element("Street", a.street) +
         text_element("City", a.city) + text_element("State", a.state) + text_element("CountryOrRegion", a.country) +
         text_element("PostalCode", a.postal_code) + "</t:Entry>";
}

std::string_view distinguished(model::FolderKind) { return "contacts"; }

template <typename T>
const T* find_key(const std::vector<T>& list, const std::string& key) {
  for (const auto& x : list)
    if (x.key == key) return &x;
  return nullptr;
}

// One field's change inside an UpdateItem.
struct Updates {
  std::string xml;
  void set(std::string_view field_uri, const std::string& element_xml) {
    xml += "<t:SetItemField><t:FieldURI FieldURI=\"" + std::string(field_uri) + "\"/><t:Contact>" + element_xml +
           "</t:Contact></t:SetItemField>";
  }
  void remove(std::string_view field_uri) {
    xml += "<t:DeleteItemField><t:FieldURI FieldURI=\"" + std::string(field_uri) + "\"/></t:DeleteItemField>";
  }
  void set_indexed(std::string_view field_uri, std::string_view index, const std::string& element_xml) {
    xml += "<t:SetItemField><t:IndexedFieldURI FieldURI=\"" + std::string(field_uri) + "\" FieldIndex=\"" +
           xml_escape(index) + "\"/><t:Contact>" + element_xml + "</t:Contact></t:SetItemField>";
  }
  void remove_indexed(std::string_view field_uri, std::string_view index) {
    xml += "<t:DeleteItemField><t:IndexedFieldURI FieldURI=\"" + std::string(field_uri) + "\" FieldIndex=\"" +
           xml_escape(index) + "\"/></t:DeleteItemField>";
  }
  void scalar(std::string_view uri, std::string_view element, const std::string& before, const std::string& after) {
    if (before == after) return;
    if (after.empty()) remove(uri);
    else set(uri, text_element(element, after));
  }
};

}  // namespace

namespace {

// One contact of a CreateItem: <t:Contact> with its fields in the schema's order and its tag.
void append_contact(std::string& x, const model::Contact& c, std::string_view local_id) {
  x += "<t:Contact>";
  if (!c.notes.empty()) x += "<t:Body BodyType=\"Text\">" + xml_escape(c.notes) + "</t:Body>";
  if (!c.categories.empty()) x += categories_xml(c.categories);
  x += tag_property(local_id);
  x += text_element("FileAs", c.file_as) + text_element("DisplayName", c.display_name) +
       text_element("GivenName", c.given_name) + text_element("MiddleName", c.middle_name) +
       text_element("Nickname", c.nickname) + text_element("CompanyName", c.company);
  if (!c.emails.empty()) {
    x += "<t:EmailAddresses>";
    for (const auto& e : c.emails) x += email_entry(e);
    x += "</t:EmailAddresses>";
  }
  if (!c.addresses.empty()) {
    x += "<t:PhysicalAddresses>";
    for (const auto& a : c.addresses) x += address_entry(a);
    x += "</t:PhysicalAddresses>";
  }
  if (!c.phones.empty()) {
    x += "<t:PhoneNumbers>";
    for (const auto& p : c.phones) x += "<t:Entry Key=\"" + xml_escape(p.key) + "\">" + xml_escape(p.number) + "</t:Entry>";
    x += "</t:PhoneNumbers>";
  }
  if (c.birthday) x += "<t:Birthday>" + birthday_value(*c.birthday) + "</t:Birthday>";
  x += text_element("JobTitle", c.job_title) + text_element("Surname", c.surname);
  x += "</t:Contact>";
}

}  // namespace

std::string create_item_request(const Target& target, model::FolderKind folder, const model::Contact& c,
                                std::string_view local_id) {
  return create_items_request(target, folder, {{c, std::string(local_id)}});
}

std::string create_items_request(const Target& target, model::FolderKind folder,
                                 const std::vector<model::RemoteMailboxService::NewItem>& items) {
  std::string x = "<m:CreateItem><m:SavedItemFolderId>" + distinguished_folder_id(target, distinguished(folder)) +
                  "</m:SavedItemFolderId><m:Items>";
  for (const auto& item : items) {
    const auto* contact = std::get_if<model::Contact>(&item.item);
    if (!contact) return {};
    append_contact(x, *contact, item.local_id);
  }
  x += "</m:Items></m:CreateItem>";
  return soap_envelope(target, x);
}

std::string update_item_request(const Target& target, const model::RemoteRef& ref, const model::Contact& b,
                                const model::Contact& a, bool overwrite) {
  Updates u;
  u.scalar("contacts:FileAs", "FileAs", b.file_as, a.file_as);
  u.scalar("contacts:DisplayName", "DisplayName", b.display_name, a.display_name);
  u.scalar("contacts:GivenName", "GivenName", b.given_name, a.given_name);
  u.scalar("contacts:MiddleName", "MiddleName", b.middle_name, a.middle_name);
  u.scalar("contacts:Nickname", "Nickname", b.nickname, a.nickname);
  u.scalar("contacts:CompanyName", "CompanyName", b.company, a.company);
  u.scalar("contacts:JobTitle", "JobTitle", b.job_title, a.job_title);
  u.scalar("contacts:Surname", "Surname", b.surname, a.surname);
  if (b.notes != a.notes) {
    if (a.notes.empty()) u.remove("item:Body");
    else u.set("item:Body", "<t:Body BodyType=\"Text\">" + xml_escape(a.notes) + "</t:Body>");
  }
  if (b.categories != a.categories) {
    if (a.categories.empty()) u.remove("item:Categories");
    else u.set("item:Categories", categories_xml(a.categories));
  }
  if (b.birthday != a.birthday) {
    if (!a.birthday) u.remove("contacts:Birthday");
    else u.set("contacts:Birthday", "<t:Birthday>" + birthday_value(*a.birthday) + "</t:Birthday>");
  }
  // Dictionary entries, by key: set what is new or changed, delete what is gone.
  for (const auto& e : a.emails) {
    const auto* old = find_key(b.emails, e.key);
    if (!old || !(*old == e))
      u.set_indexed("contacts:EmailAddress", e.key, "<t:EmailAddresses>" + email_entry(e) + "</t:EmailAddresses>");
  }
  for (const auto& e : b.emails)
    if (!find_key(a.emails, e.key)) u.remove_indexed("contacts:EmailAddress", e.key);
  for (const auto& p : a.phones) {
    const auto* old = find_key(b.phones, p.key);
    if (!old || !(*old == p))
      u.set_indexed("contacts:PhoneNumber", p.key,
                    "<t:PhoneNumbers><t:Entry Key=\"" + xml_escape(p.key) + "\">" + xml_escape(p.number) +
                        "</t:Entry></t:PhoneNumbers>");
  }
  for (const auto& p : b.phones)
    if (!find_key(a.phones, p.key)) u.remove_indexed("contacts:PhoneNumber", p.key);
  static const model::PostalAddress kEmpty{};
  auto address_parts = [&](const model::PostalAddress& before, const model::PostalAddress& after) {
    const std::pair<std::string_view, std::pair<const std::string*, const std::string*>> parts[] = {
        {"Street", {&before.street, &after.street}},     {"City", {&before.city, &after.city}},
        {"State", {&before.state, &after.state}},        {"CountryOrRegion", {&before.country, &after.country}},
        {"PostalCode", {&before.postal_code, &after.postal_code}}};
    for (const auto& [name, values] : parts) {
      if (*values.first == *values.second) continue;
      const std::string uri = "contacts:PhysicalAddress:" + std::string(name);
      if (values.second->empty()) u.remove_indexed(uri, after.key);
      else
        u.set_indexed(uri, after.key,
                      "<t:PhysicalAddresses><t:Entry Key=\"" + xml_escape(after.key) + "\">" +
                          text_element(name, *values.second) + "</t:Entry></t:PhysicalAddresses>");
    }
  };
  for (const auto& addr : a.addresses) {
    const auto* old = find_key(b.addresses, addr.key);
    model::PostalAddress base = old ? *old : kEmpty;
    base.key = addr.key;
    address_parts(base, addr);
  }
  for (const auto& addr : b.addresses) {
    if (find_key(a.addresses, addr.key)) continue;
    model::PostalAddress gone{addr.key, "", "", "", "", ""};
    address_parts(addr, gone);
  }
  if (u.xml.empty()) return {};
  std::string x = std::string("<m:UpdateItem ConflictResolution=\"") + (overwrite ? "AlwaysOverwrite" : "NeverOverwrite") +
                  "\"><m:ItemChanges><t:ItemChange><t:ItemId Id=\"" + xml_escape(ref.id) + "\" ChangeKey=\"" +
                  xml_escape(ref.change_key) + "\"/><t:Updates>" + u.xml +
                  "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>";
  return soap_envelope(target, x);
}

std::string delete_item_request(const Target& target, const model::RemoteRef& ref, bool notify) {
  return soap_envelope(target, std::string("<m:DeleteItem DeleteType=\"MoveToDeletedItems\" SendMeetingCancellations=\"") +
                                    (notify ? "SendToAllAndSaveCopy" : "SendToNone") + "\"><m:ItemIds><t:ItemId Id=\"" +
                                    xml_escape(ref.id) + "\"/></m:ItemIds></m:DeleteItem>");
}

namespace {

std::string utc_of(const std::string& rfc3339) {
  auto t = parse_xs_datetime(rfc3339);
  return t ? format_rfc3339_utc(*t) : std::string();
}

std::string attendee_list(std::string_view element, const std::vector<model::Attendee>& all, std::string_view type) {
  std::string x;
  for (const auto& a : all) {
    if (a.type != type) continue;
    x += "<t:Attendee><t:Mailbox>" + text_element("Name", a.name) + "<t:EmailAddress>" + xml_escape(a.address) +
         "</t:EmailAddress></t:Mailbox></t:Attendee>";
  }
  if (x.empty()) return {};
  return "<t:" + std::string(element) + ">" + x + "</t:" + std::string(element) + ">";
}

std::string_view invitations(bool notify) { return notify ? "SendToAllAndSaveCopy" : "SendToNone"; }

// t:Recurrence: the pattern's element with its members in the schema's order, then the range's.
std::string recurrence_xml(const model::Recurrence& r) {
  static const std::pair<std::string_view, std::string_view> kPatterns[] = {
      {"daily", "DailyRecurrence"},
      {"weekly", "WeeklyRecurrence"},
      {"absolute_monthly", "AbsoluteMonthlyRecurrence"},
      {"relative_monthly", "RelativeMonthlyRecurrence"},
      {"absolute_yearly", "AbsoluteYearlyRecurrence"},
      {"relative_yearly", "RelativeYearlyRecurrence"}};
  std::string element;
  for (const auto& [pattern, name] : kPatterns)
    if (pattern == r.pattern) element = name;
  if (element.empty()) return {};
  const bool yearly = r.pattern.ends_with("yearly"), relative = r.pattern.starts_with("relative");
  std::string days;
  for (const auto& d : r.days_of_week) days += (days.empty() ? "" : " ") + d;
  std::string x = "<t:Recurrence><t:" + element + ">";
  if (!yearly) x += "<t:Interval>" + std::to_string(r.interval) + "</t:Interval>";
  if (r.pattern == "weekly" || relative) x += text_element("DaysOfWeek", days);
  if (r.pattern == "weekly" && !r.first_day_of_week.empty()) x += text_element("FirstDayOfWeek", r.first_day_of_week);
  if (relative) x += text_element("DayOfWeekIndex", r.day_of_week_index);
  if (r.pattern.starts_with("absolute")) x += "<t:DayOfMonth>" + std::to_string(r.day_of_month) + "</t:DayOfMonth>";
  if (yearly) x += text_element("Month", r.month);
  x += "</t:" + element + ">";
  if (r.range == "end_date")
    x += "<t:EndDateRecurrence>" + text_element("StartDate", r.start_date) + text_element("EndDate", r.end_date) +
         "</t:EndDateRecurrence>";
  else if (r.range == "numbered")
    x += "<t:NumberedRecurrence>" + text_element("StartDate", r.start_date) + "<t:NumberOfOccurrences>" +
         std::to_string(r.count) + "</t:NumberOfOccurrences></t:NumberedRecurrence>";
  else
    x += "<t:NoEndRecurrence>" + text_element("StartDate", r.start_date) + "</t:NoEndRecurrence>";
  return x + "</t:Recurrence>";
}

std::string occurrence_id_xml(const OccurrenceRef& o) {
  if (!o.item_id.empty()) return "<t:ItemId Id=\"" + xml_escape(o.item_id) + "\"/>";
  return "<t:OccurrenceItemId RecurringMasterId=\"" + xml_escape(o.master_id) + "\" InstanceIndex=\"" +
         std::to_string(o.instance_index) + "\"/>";
}

// The t:Updates of exactly the event fields that differ (a series' recurrence among them);
// nullopt when the new zone has no Windows id.
std::optional<std::string> event_updates(const model::Event& b, const model::Event& a) {
  std::string u;
  auto set = [&](std::string_view uri, const std::string& element_xml) {
    u += "<t:SetItemField><t:FieldURI FieldURI=\"" + std::string(uri) + "\"/><t:CalendarItem>" + element_xml +
         "</t:CalendarItem></t:SetItemField>";
  };
  auto remove = [&](std::string_view uri) {
    u += "<t:DeleteItemField><t:FieldURI FieldURI=\"" + std::string(uri) + "\"/></t:DeleteItemField>";
  };
  auto scalar = [&](std::string_view uri, std::string_view element, const std::string& before, const std::string& after) {
    if (before == after) return;
    if (after.empty()) remove(uri);
    else set(uri, text_element(element, after));
  };
  scalar("item:Subject", "Subject", b.subject, a.subject);
  scalar("item:Sensitivity", "Sensitivity", b.sensitivity, a.sensitivity);
  if (b.body != a.body) {
    if (a.body.empty()) remove("item:Body");
    else set("item:Body", "<t:Body BodyType=\"Text\">" + xml_escape(a.body) + "</t:Body>");
  }
  if (b.categories != a.categories) {
    if (a.categories.empty()) remove("item:Categories");
    else set("item:Categories", categories_xml(a.categories));
  }
  if (b.reminder_minutes != a.reminder_minutes) {
    set("item:ReminderIsSet", std::string("<t:ReminderIsSet>") + (a.reminder_minutes ? "true" : "false") + "</t:ReminderIsSet>");
    if (a.reminder_minutes)
      set("item:ReminderMinutesBeforeStart",
          "<t:ReminderMinutesBeforeStart>" + std::to_string(*a.reminder_minutes) + "</t:ReminderMinutesBeforeStart>");
  }
  if (b.time_zone != a.time_zone) {
    const auto windows = model::windows_from_iana(a.time_zone);
    if (!windows) return std::nullopt;
    set("calendar:StartTimeZone", "<t:StartTimeZone Id=\"" + xml_escape(*windows) + "\"/>");
    set("calendar:EndTimeZone", "<t:EndTimeZone Id=\"" + xml_escape(*windows) + "\"/>");
  }
  if (utc_of(b.start) != utc_of(a.start)) set("calendar:Start", "<t:Start>" + utc_of(a.start) + "</t:Start>");
  if (utc_of(b.end) != utc_of(a.end)) set("calendar:End", "<t:End>" + utc_of(a.end) + "</t:End>");
  if (b.all_day != a.all_day)
    set("calendar:IsAllDayEvent", std::string("<t:IsAllDayEvent>") + (a.all_day ? "true" : "false") + "</t:IsAllDayEvent>");
  scalar("calendar:LegacyFreeBusyStatus", "LegacyFreeBusyStatus", b.free_busy, a.free_busy);
  scalar("calendar:Location", "Location", b.location, a.location);
  struct AttendeeField {
    std::string_view uri, element, type;
  };
  static constexpr AttendeeField kAttendeeFields[] = {{"calendar:RequiredAttendees", "RequiredAttendees", "required"},
                                                      {"calendar:OptionalAttendees", "OptionalAttendees", "optional"},
                                                      {"calendar:Resources", "Resources", "resource"}};
  for (const auto& [uri, element, type] : kAttendeeFields) {
    auto list_before = attendee_list(element, b.attendees, type), list_after = attendee_list(element, a.attendees, type);
    // Responses are the attendees', not the CRM's: compare who is invited, not their answers.
    if (list_before == list_after) continue;
    if (list_after.empty()) remove(uri);
    else set(uri, list_after);
  }
  if (b.recurrence != a.recurrence && a.recurrence) set("calendar:Recurrence", recurrence_xml(*a.recurrence));
  return u;
}

std::string update_calendar_item(const Target& target, const std::string& id_xml, std::string_view conflict_resolution,
                                 const std::string& updates, bool notify) {
  return soap_envelope(target, "<m:UpdateItem ConflictResolution=\"" + std::string(conflict_resolution) +
                                   "\" SendMeetingInvitationsOrCancellations=\"" + std::string(invitations(notify)) +
                                   "\"><m:ItemChanges><t:ItemChange>" + id_xml + "<t:Updates>" + updates +
                                   "</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>");
}

}  // namespace

std::string create_event_request(const Target& target, const model::Event& e, std::string_view local_id,
                                 bool notify) {
  const auto windows = model::windows_from_iana(e.time_zone);
  if (!windows) return {};
  std::string x = "<m:CreateItem SendMeetingInvitations=\"" + std::string(invitations(notify)) +
                  "\"><m:SavedItemFolderId>" + distinguished_folder_id(target, "calendar") +
                  "</m:SavedItemFolderId><m:Items><t:CalendarItem>";
  x += text_element("Subject", e.subject);
  x += text_element("Sensitivity", e.sensitivity);
  if (!e.body.empty()) x += "<t:Body BodyType=\"Text\">" + xml_escape(e.body) + "</t:Body>";
  if (!e.categories.empty()) x += categories_xml(e.categories);
  x += std::string("<t:ReminderIsSet>") + (e.reminder_minutes ? "true" : "false") + "</t:ReminderIsSet>";
  if (e.reminder_minutes) x += "<t:ReminderMinutesBeforeStart>" + std::to_string(*e.reminder_minutes) + "</t:ReminderMinutesBeforeStart>";
  x += tag_property(local_id);
  x += "<t:Start>" + utc_of(e.start) + "</t:Start><t:End>" + utc_of(e.end) + "</t:End>";
  x += std::string("<t:IsAllDayEvent>") + (e.all_day ? "true" : "false") + "</t:IsAllDayEvent>";
  x += text_element("LegacyFreeBusyStatus", e.free_busy);
  x += text_element("Location", e.location);
  x += attendee_list("RequiredAttendees", e.attendees, "required") + attendee_list("OptionalAttendees", e.attendees, "optional") +
       attendee_list("Resources", e.attendees, "resource");
  if (e.recurrence) x += recurrence_xml(*e.recurrence);
  x += "<t:StartTimeZone Id=\"" + xml_escape(*windows) + "\"/><t:EndTimeZone Id=\"" + xml_escape(*windows) + "\"/>";
  x += "</t:CalendarItem></m:Items></m:CreateItem>";
  return soap_envelope(target, x);
}

std::string update_event_request(const Target& target, const model::RemoteRef& ref, const model::Event& b,
                                 const model::Event& a, bool overwrite, bool notify) {
  auto updates = event_updates(b, a);
  if (!updates || updates->empty()) return {};
  return update_calendar_item(target,
                              "<t:ItemId Id=\"" + xml_escape(ref.id) + "\" ChangeKey=\"" + xml_escape(ref.change_key) + "\"/>",
                              overwrite ? "AlwaysOverwrite" : "NeverOverwrite", *updates, notify);
}

std::string update_occurrence_request(const Target& target, const OccurrenceRef& occurrence, const model::Event& before,
                                      const model::Event& after, bool notify) {
  auto updates = event_updates(before, after);
  if (!updates || updates->empty()) return {};
  return update_calendar_item(target, occurrence_id_xml(occurrence), "AlwaysOverwrite", *updates, notify);
}

std::string delete_occurrence_request(const Target& target, const OccurrenceRef& occurrence, bool notify) {
  return soap_envelope(target, "<m:DeleteItem DeleteType=\"MoveToDeletedItems\" SendMeetingCancellations=\"" +
                                   std::string(invitations(notify)) + "\"><m:ItemIds>" + occurrence_id_xml(occurrence) +
                                   "</m:ItemIds></m:DeleteItem>");
}

std::string find_item_by_tag_request(const Target& target, std::string_view distinguished_folder,
                                     std::string_view local_id) {
  std::string x =
      "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
      "<m:Restriction><t:IsEqualTo><t:ExtendedFieldURI PropertySetId=\"" +
      std::string(kTagPropertySetId) + "\" PropertyName=\"" + std::string(kTagPropertyName) +
      "\" PropertyType=\"String\"/><t:FieldURIOrConstant><t:Constant Value=\"" + xml_escape(local_id) +
      "\"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction><m:ParentFolderIds>" +
      distinguished_folder_id(target, distinguished_folder) + "</m:ParentFolderIds></m:FindItem>";
  return soap_envelope(target, x);
}

std::string send_message_request(const Target& target, const model::OutgoingMessage& m) {
  auto recipients = [](std::string_view element, const std::vector<model::Recipient>& list) {
    if (list.empty()) return std::string();
    std::string x = "<t:" + std::string(element) + ">";
    for (const auto& r : list)
      x += "<t:Mailbox>" + text_element("Name", r.name) + "<t:EmailAddress>" + xml_escape(r.address) +
           "</t:EmailAddress></t:Mailbox>";
    return x + "</t:" + std::string(element) + ">";
  };
  std::string x = "<m:CreateItem MessageDisposition=\"SendAndSaveCopy\"><m:SavedItemFolderId>" +
                  distinguished_folder_id(target, "sentitems") + "</m:SavedItemFolderId><m:Items><t:Message>";
  x += "<t:Subject>" + xml_escape(m.subject) + "</t:Subject>";
  x += std::string("<t:Body BodyType=\"") + (m.html ? "HTML" : "Text") + "\">" + xml_escape(m.body) + "</t:Body>";
  if (!m.attachments.empty()) {
    x += "<t:Attachments>";
    for (const auto& a : m.attachments)
      x += "<t:FileAttachment><t:Name>" + xml_escape(a.name) + "</t:Name><t:ContentType>" + xml_escape(a.content_type) +
           "</t:ContentType><t:Content>" + a.content_base64 + "</t:Content></t:FileAttachment>";
    x += "</t:Attachments>";
  }
  x += tag_property(m.local_id);
  x += recipients("ToRecipients", m.to) + recipients("CcRecipients", m.cc) + recipients("BccRecipients", m.bcc);
  // A delegate sends as the mailbox's owner (Send As); impersonation is the owner already.
  if (target.addressing == Addressing::delegate)
    x += "<t:From><t:Mailbox><t:EmailAddress>" + xml_escape(target.mailbox) + "</t:EmailAddress></t:Mailbox></t:From>";
  x += "</t:Message></m:Items></m:CreateItem>";
  return soap_envelope(target, x);
}

}  // namespace exsync::ews
