// Tenant: the simulated Microsoft 365 tenant's state, shared by the Entra, EWS and control
// endpoints of exsync-sim.
//
// Each mailbox's contacts folder keeps a change log: every create, update and delete takes the
// next sequence number, and a sync state is an opaque token naming the mailbox, the folder's
// epoch and the last sequence number the client has seen. Invalidating a mailbox's sync states
// bumps its epoch, as Exchange does when it forgets them.
// Thread-safety: none; the simulator is single-threaded.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "exsync/core/time_format.hpp"
#include "exsync/model/contact.hpp"
#include "exsync/model/event.hpp"

namespace exsync::sim {

struct SimContact {
  std::string id;
  int version = 1;
  model::Contact contact;  // `birthday` is the date the user entered
  SysSeconds birthday_instant{};  // how Exchange stores it: local midnight in UTC
  SysSeconds created{};
  SysSeconds last_modified{};
  std::uint64_t created_seq = 0;
  std::uint64_t last_seq = 0;
  bool deleted = false;
  // Extended properties set by clients, by "PropertySetId/PropertyName".
  std::map<std::string, std::string> extended;
  std::string change_key() const;
  // The full t:Contact last rendered, and the state it was rendered from.
  struct Rendered {
    int version = 0;
    std::uint64_t seq = 0;
    std::size_t extended = 0;
    bool operator==(const Rendered&) const = default;
  };
  struct RenderedXml {
    Rendered key;
    std::string xml;
  };
  mutable RenderedXml rendered;
};

// A calendar item: a single appointment or a recurring series' master, with its exceptions.
struct SimEvent {
  std::string id;
  int version = 1;
  std::string uid;
  std::string subject, location, body;
  std::string windows_zone;  // StartTimeZoneId, as Exchange names zones
  SysSeconds start{}, end{};
  bool all_day = false;
  model::Person organizer;
  std::vector<model::Attendee> attendees;
  std::vector<std::string> categories;
  std::optional<int> reminder_minutes;
  std::string free_busy = "Busy";
  std::string sensitivity = "Normal";
  bool cancelled = false;
  std::optional<model::Recurrence> recurrence;
  struct Exception {
    std::string id;
    SysSeconds original_start, start, end;
    // What Outlook changed for this occurrence alone; the rest follows the series.
    std::optional<std::string> subject, location, body, free_busy;
    std::optional<std::optional<int>> reminder_minutes;
  };
  std::vector<Exception> modified;
  std::vector<SysSeconds> deleted_occurrences;
  std::map<std::string, std::string> extended;  // "PropertySetId/PropertyName" -> value
  SysSeconds created{}, last_modified{};
  std::uint64_t created_seq = 0;
  std::uint64_t last_seq = 0;
  bool deleted = false;
  // Set on the item an exception is read as (occurrence_item()): the master's id.
  std::string exception_of;
  // An occurrence as the pattern has it, listed as an item of its own (a calendar view's
  // CalendarItemType Occurrence); exception_of names its series.
  bool plain_occurrence = false;
  SysSeconds original_start{};  // exceptions and occurrences: where the pattern put it
  std::string change_key() const;
};

// A modified occurrence as its own item: the series' fields with the occurrence's own changes,
// its times, no recurrence (CalendarItemType Exception).
SimEvent occurrence_item(const SimEvent& master, const SimEvent::Exception& exception);

// The original start of the series' `index`-th occurrence, counted from 1 over its pattern and
// range with cancelled occurrences (EWS's InstanceIndex); nullopt past its end.
std::optional<SysSeconds> occurrence_at_index(const SimEvent& series, int index);

// The series' occurrence originally at `original` as its own item: its exception, or the
// pattern's occurrence with the id a calendar view lists it by. nullopt when cancelled or not in
// the pattern.
std::optional<SimEvent> occurrence_at(const SimEvent& series, SysSeconds original);

enum class ChangeType { create, update, remove };

template <typename Item>
struct SimChangeOf {
  ChangeType type;
  const Item* item;
};
using SimChange = SimChangeOf<SimContact>;

// A message sent from a mailbox: what Sent Items holds.
struct SimMessage {
  std::string id;
  std::string subject;
  std::string body;
  bool html = false;
  std::vector<std::string> to, cc, bcc;
  std::vector<std::string> attachment_names;
  std::vector<std::size_t> attachment_sizes;  // bytes, beside each name
  std::vector<std::string> attachment_types;  // content types, beside each name (EWS)
  std::map<std::string, std::string> extended;
  SysSeconds sent{};
  bool delivered = true;  // false: saved to Sent Items although the send was refused
};

struct Mailbox {
  std::string address;
  std::string guid_tag;  // stands in for the mailbox GUID inside item ids
  std::uint64_t epoch = 1;
  std::uint64_t seq = 0;
  std::uint64_t next_item = 1;
  std::map<std::string, SimContact> contacts;   // by id, tombstones included
  std::map<std::uint64_t, std::string> by_seq;  // last_seq -> id
  std::vector<SimMessage> sent_items;
  std::vector<SimMessage> drafts;  // Graph's drafts, not yet sent
  // Poison items: GetItem answers each with this ResponseCode instead of the item.
  std::map<std::string, std::string> poisoned;
  struct Calendar {
    std::uint64_t seq = 0;
    std::uint64_t next_item = 1;
    std::map<std::string, SimEvent> events;
    std::map<std::uint64_t, std::string> by_seq;
  } calendar;
};

struct Fault {
  int aadsts = 0;
  int remaining = -1;  // -1: until cleared
};

// The event as a client should read it (for the control API's listing).
model::Event event_as_model(const SimEvent& event);

class Tenant {
 public:
  Tenant(std::string domain, std::uint64_t seed);

  const std::string& tenant_id() const { return tenant_id_; }
  const std::string& client_id() const { return client_id_; }
  const std::string& service_account() const { return service_account_; }
  const std::string& password() const { return password_; }
  void set_password(std::string p) { password_ = std::move(p); }
  std::chrono::seconds token_lifetime{3600};

  // Mailboxes.
  Mailbox& add_mailbox(const std::string& address);
  bool remove_mailbox(const std::string& address);
  Mailbox* mailbox(const std::string& address);
  std::vector<std::string> mailbox_addresses() const;
  void populate(Mailbox& mb, int contacts);

  // Contacts; the ids returned are EWS ItemIds.
  const SimContact& create_contact(Mailbox& mb, model::Contact c);
  const SimContact* update_contact(Mailbox& mb, const std::string& id, model::Contact c);
  // Records a client's change made through EWS (the birthday instant as the client sent it).
  const SimContact* write_contact(Mailbox& mb, const std::string& id, model::Contact c,
                                  std::optional<SysSeconds> birthday_instant);
  bool delete_contact(Mailbox& mb, const std::string& id);
  const SimContact* find_contact(const Mailbox& mb, const std::string& id) const;

  // Events.
  void populate_calendar(Mailbox& mb, int events);
  const SimEvent* find_event(const Mailbox& mb, const std::string& id) const;
  bool delete_event(Mailbox& mb, const std::string& id);
  // Adds an event a client created; assigns its id, uid and change log position.
  const SimEvent& add_event(Mailbox& mb, SimEvent event);
  // Replaces an event's content with a client's change (ids and log bookkeeping kept).
  const SimEvent* write_event(Mailbox& mb, const std::string& id, const SimEvent& changed);
  // The occurrence with EWS id `id` (a modified one's own id, or the id a calendar view gives an
  // occurrence as the pattern has it), as its own item; nullopt if none.
  std::optional<SimEvent> find_occurrence(const Mailbox& mb, const std::string& id) const;
  // Outlook's edit of one occurrence, by its original start: its own subject, location, body
  // (those given) and times (start and end, when given). The series' change key moves on.
  const SimEvent* edit_occurrence(Mailbox& mb, const std::string& id, SysSeconds original_start,
                                  const SimEvent::Exception& change);
  // A client's change to one occurrence through EWS or Graph: `changed` is the occurrence as its
  // own item after the change; what differs from the series becomes the occurrence's own.
  const SimEvent* write_occurrence(Mailbox& mb, const std::string& id, SysSeconds original_start, const SimEvent& changed);
  // The series and original start of the modified occurrence whose own id is `occurrence_id`.
  std::optional<std::pair<std::string, SysSeconds>> occurrence_of(const Mailbox& mb, const std::string& occurrence_id) const;
  // Outlook's cancellation of one occurrence.
  const SimEvent* cancel_occurrence(Mailbox& mb, const std::string& id, SysSeconds original_start);
  // Changes the series' subject and location (an edit in Outlook).
  const SimEvent* edit_event(Mailbox& mb, const std::string& id, const std::string& subject, const std::string& location);

  // Sync states, per folder ("contacts", "calendar").
  std::string sync_state(const Mailbox& mb, std::string_view folder, std::uint64_t seq) const;
  std::optional<std::uint64_t> parse_sync_state(const Mailbox& mb, std::string_view folder, const std::string& state) const;
  // Net changes after `since`, at most `max`; sets `next` and `last`.
  std::vector<SimChange> changes_since(const Mailbox& mb, std::uint64_t since, int max, std::uint64_t& next,
                                       bool& last) const;
  std::vector<SimChangeOf<SimEvent>> event_changes_since(const Mailbox& mb, std::uint64_t since, int max,
                                                         std::uint64_t& next, bool& last) const;

  // Tokens, for one resource each (their `aud`): EWS (https://outlook.office365.com) or Microsoft
  // Graph (https://graph.microsoft.com); each endpoint takes only its own.
  enum class Audience { ews, graph };
  // `app`: an app-only token (application roles) instead of the service account's delegated one.
  std::string issue_access_token(bool app = false, Audience audience = Audience::ews);
  const std::string& client_secret() const { return client_secret_; }
  // The public certificate (PEM) uploaded to the app registration for client assertions; empty
  // when none is; `certificate_registered` false as if it were removed.
  std::string client_certificate;
  bool certificate_registered = true;
  std::string issue_refresh_token();
  bool access_token_valid(const std::string& token, Audience audience = Audience::ews) const;
  // Whether a valid token is app-only (client credentials) rather than the service account's.
  bool access_token_is_app(const std::string& token) const;
  bool refresh_token_valid(const std::string& token) const;
  void revoke_tokens();

  // Impersonation: the service account's ApplicationImpersonation role, and per-mailbox denials.
  bool impersonation_allowed = true;
  // The delegated scope access tokens carry (their `scp` claim); admin consent for EWS gives
  // "EWS.AccessAsUser.All".
  std::string token_scope = "EWS.AccessAsUser.All";
  // The application permission app-only tokens carry (their `roles` claim).
  std::string app_role = "full_access_as_app";
  // Microsoft Graph: the application permissions consented for app-only tokens, the delegated
  // scopes of the service account's, and the mailboxes RBAC for Applications scopes the app to
  // (none: every mailbox, as an unscoped Entra grant reaches).
  std::set<std::string> graph_app_roles{"Contacts.ReadWrite", "Calendars.ReadWrite", "Mail.Send", "Mail.ReadWrite",
                                           "User.Read.All"};
  std::string graph_delegated_scope =
      "Contacts.ReadWrite.Shared Calendars.ReadWrite.Shared Mail.Send.Shared";
  std::optional<std::set<std::string>> graph_rbac_scope;
  // Microsoft Graph's throttling. Each mailbox may take `budget` requests in any `window` (Exchange
  // Online: 10,000 in 10 minutes; 0: no limit); beyond it a request is answered 429
  // ApplicationThrottled, Retry-After the seconds until one is free again. `next` answers the next
  // requests so as MailboxConcurrency refusals, Retry-After `retry_after_s` seconds (0: none, as
  // Graph sometimes leaves it out).
  struct GraphThrottle {
    int budget = 0;
    std::chrono::milliseconds window{std::chrono::minutes(10)};
    int next = 0;
    int retry_after_s = 1;
  } graph_throttle;
  // Exchange Online blocking EWS for the organisation, or for an app not on its EWS allow list:
  // every EWS request is answered HTTP 403.
  bool ews_blocked = false;
  // EWS also accepts HTTP Basic with the service account's name and password (Exchange Server
  // without modern authentication).
  bool basic_auth = false;
  std::set<std::string> impersonation_denied;
  // Delegate access: the service account's FullAccess on the agents' mailboxes (denied for all,
  // or for the listed ones), and Send As to send from them.
  bool full_access = true;
  std::set<std::string> full_access_denied;
  bool send_as = true;
  // The mailbox whose id tag (inside item ids) is `guid_tag`.
  Mailbox* mailbox_by_tag(std::string_view guid_tag);

  // Exchange Online's request correlation: a request with `client-request-id` and
  // `return-client-request-id: true` gets its id back in every answer, and every answer carries
  // the server's own `request-id` (Entra's: `x-ms-request-id`). False: neither, as gromox answers.
  // https://learn.microsoft.com/exchange/client-developer/exchange-web-services/instrumenting-client-requests-for-ews-and-rest-in-exchange
  bool echo_request_id = true;
  // A fresh GUID for a `request-id` header.
  std::string new_request_id();
  // gromox answers contacts' EmailAddresses, PhoneNumbers and PhysicalAddresses only when GetItem
  // asks for them entry by entry (IndexedFieldURI), and then only the entries asked; Exchange
  // also answers the whole collections (FieldURI contacts:EmailAddresses, ...).
  bool per_entry_fields_only = false;

  // Injected token endpoint failure.
  std::optional<Fault> token_fault;

  // An injected EWS fault: the next `remaining` requests (-1: until cleared) for `mailbox` (any
  // when empty) and `operation` (any when empty), or a `share` of them (0..1; 0 = all), are
  // answered with it. Kinds (kEwsFaultKinds):
  //   server_busy         ErrorServerBusy with BackOffMilliseconds `backoff_ms`
  //   http503, http429    the status with Retry-After (`backoff_ms` rounded up to seconds)
  //   http500, http502    the status with an HTML page, as IIS or a proxy answers
  //   reset_before        the connection dropped before any byte of the answer
  //   reset_mid           the connection dropped in the middle of the answer
  //   truncated           a complete HTTP 200 whose XML stops halfway
  //   foreign_xml         a well-formed XML document that is no EWS answer (a sign-in page)
  //   invalid_sync_state  ErrorInvalidSyncStateData (with operation = SyncFolderItems)
  //   token_revoked       every token revoked, then HTTP 401 (the next sign-in must use the password)
  //   slow                the right answer, `delay_ms` late
  //   answer_twice        the answer, then on the same connection a stale second one (gromox 3.10):
  //                       for CreateItem an empty NoError CreateItemResponse, else a byte copy
  //   late                the connection answers one request late from then on (a desynchronised
  //                       proxy): this request gets the connection's previous answer, its own
  //                       is written only once the next request has been read
  //   early_answer        HTTP 500 ErrorInternalServerError as soon as the head is read; the unread
  //                       body is then taken for the next request (HTTP 400, closed). Matched
  //                       before the body is read, so it takes no `mailbox` or `operation`
  //   send_refused_saved  a SendAndSaveCopy CreateItem is refused (HTTP 500, ErrorInternalServerError)
  //                       but its copy saved to Sent Items and nobody receiving it, then the stale
  //                       empty CreateItemResponse of answer_twice follows (gromox)
  struct EwsFault {
    std::string kind;
    std::string mailbox;
    std::string operation;
    double share = 0;
    int backoff_ms = 0;
    int delay_ms = 0;
    int remaining = 1;
  };
  std::optional<EwsFault> ews_fault;
  // Whether a request for `mailbox` and `operation` meets the fault (of a kind `applies` accepts,
  // when given); consumes one of its count.
  std::optional<EwsFault> take_ews_fault(const std::string& mailbox, const std::string& operation,
                                         const std::function<bool(const EwsFault&)>& applies = {});
  // TLS handshakes to refuse (the connection dropped instead), counting down.
  int tls_faults = 0;
  int tls_faults_injected = 0;
  // Contacts created since start, seeded or by a client (the benchmarks count writes by it).
  std::int64_t contacts_created = 0;

  SysSeconds now() const;

 private:
  std::string random_token(std::size_t n);
  std::string tenant_id_;
  std::string domain_;
  std::string client_id_;
  std::string client_secret_;
  std::string service_account_;
  std::string password_;
  std::mt19937_64 rng_;
  std::mt19937_64 request_ids_;  // apart from rng_, so that the sample data stays what the seed made
  std::map<std::string, Mailbox> mailboxes_;
  struct IssuedToken {
    SysSeconds expires{};
    bool app = false;
    Audience audience = Audience::ews;
  };
  std::map<std::string, IssuedToken> access_tokens_;
  std::set<std::string> refresh_tokens_;
};

}  // namespace exsync::sim
