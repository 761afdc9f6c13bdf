// GraphService: the remote mailbox port over Microsoft Graph (v1.0), beside the EWS backend.
//
// Contacts: the default contacts folder (the well-known name `contacts`) through delta query.
// A round pages by @odata.nextLink until the @odata.deltaLink; each link is the cursor, stored
// whole with its page and replayed verbatim. A link is followed only to the configured Graph
// root (scheme, host, port and path), so that the token never goes elsewhere; one stored for
// another root (the setting changed) starts the folder over, reconciling with what is stored.
// The delta carries the contacts' content, so a sync needs no second read; the reads there are
// (an item quarantined, a write's conflict) go twenty to a $batch, each answer matched to its id. Every request asks
// for immutable ids (Prefer: IdType="ImmutableId"). Creates carry the tag (model/tag.hpp) and
// are found again by a $filter on it; updates send only the fields that changed, with If-Match
// on the stored change key (412 is a conflict); deletes are deletes.
//
// Answers are checked against their requests before anything of them is used: an item read
// must be the one asked for, and a delta page's links must name the same user as the request
// that got them. An answer that fails the check closes its connection.
//
// The calendar (the primary one) goes by calendarView delta over a window of one year back and
// three years ahead, moved on at each month's first round (the folder then starts over,
// reconciled with what is stored). The delta names instances: a single event comes whole; an
// occurrence or exception names its series, which is read whole (fetch()): the master, and its
// instances in the window, joined into the model's one item with modified and cancelled
// occurrences (graph_event.hpp). A page with removals lists the calendar's event ids, since a
// removal names an instance or an event that only left the window, never the series it ended;
// the engine deletes what the list lacks (ChangePage::present). Graph sends meeting invitations
// and cancellations whenever a meeting is written: capabilities() says so, and a write without
// `notify` to an event with attendees is refused rather than sent.
//
// Mail goes in two phases (send()).
//
// Thread-safety: use from the network thread only. Lifetime: `client` and `tokens` must
// outlive it.
#pragma once

#include <boost/json/array.hpp>
#include <cstdint>

#include "exsync/auth/token_source.hpp"
#include "exsync/graph/graph_event.hpp"
#include "exsync/http/client.hpp"
#include "exsync/model/ports.hpp"

namespace exsync::graph {

struct GraphSettings {
  std::string url = "https://graph.microsoft.com/v1.0";  // the root; national clouds differ
};

// The calendar window around `now`: from the first of the month a year back, four years long
// (Graph refuses calendar views of 1,825 days and more).
struct CalendarWindow {
  SysSeconds from{}, to{};
};
CalendarWindow calendar_window(SysSeconds now);

struct GraphStats {
  std::uint64_t delta_requests = 0;
  std::uint64_t item_requests = 0;
  std::uint64_t refused_answers = 0;  // answers that were not their request's
};

class GraphService final : public model::RemoteMailboxService {
 public:
  GraphService(http::Client& client, auth::TokenSource& tokens, GraphSettings settings);

  model::RemoteCapabilities capabilities() const override {
    return {.contacts = true, .calendar = true, .send_mail = true, .silent_meeting_writes = false};
  }
  std::string id_space() const override { return "graph"; }
  // From "ews" through translateExchangeIds (ewsId to restImmutableEntryId, 1,000 ids a request;
  // the application needs User.Read.All). Each answer must name exactly the ids it was asked.
  Task<Result<std::map<std::string, std::string>, model::RemoteError>> translate_ids(
      const std::string& mailbox, const std::string& from, const std::vector<std::string>& ids) override;

  Task<Result<model::ChangePage, model::RemoteError>> changes(const std::string& mailbox, model::FolderKind folder,
                                                              const std::string& cursor, int max_changes) override;
  Task<Result<std::int64_t, model::RemoteError>> count(const std::string& mailbox, model::FolderKind folder) override;
  Task<Result<model::FetchedItems, model::RemoteError>> fetch(const std::string& mailbox, model::FolderKind folder,
                                                              const std::vector<std::string>& ids) override;
  // Up to 20 items a request, through one $batch of GETs (Graph's limit).
  std::size_t fetch_limit() const override { return kBatchLimit; }
  static constexpr std::size_t kBatchLimit = 20;
  // Contacts go twenty to a $batch of POSTs.
  std::size_t create_limit() const override { return kBatchLimit; }
  Task<Result<CreateOutcomes, model::RemoteError>> create_many(const std::string& mailbox, model::FolderKind folder,
                                                               const std::vector<NewItem>& items) override;
  Task<Result<model::RemoteRef, model::RemoteError>> create(const std::string& mailbox, model::FolderKind folder,
                                                            const model::ItemPayload& item, const std::string& local_id,
                                                            bool notify) override;
  Task<Result<std::optional<model::RemoteRef>, model::RemoteError>> find_created(const std::string& mailbox,
                                                                                 model::FolderKind folder,
                                                                                 const std::string& local_id) override;
  Task<Result<model::RemoteRef, model::RemoteError>> update(const std::string& mailbox, const model::RemoteRef& ref,
                                                            const model::ItemPayload& before,
                                                            const model::ItemPayload& after, bool overwrite,
                                                            bool notify) override;
  Task<Result<Unit, model::RemoteError>> remove(const std::string& mailbox, model::FolderKind folder, const model::RemoteRef& ref,
                                                bool notify) override;
  // In two phases, since sendMail answers 202 with no id: a draft tagged with the message's
  // local id (attachments of 3 MB and more through upload sessions), then its send. A message
  // carrying the tag that is no longer a draft went out already and is not sent again; a draft
  // an interrupted attempt left behind is sent itself when it holds every attachment, else
  // deleted and the message built again.
  Task<Result<Unit, model::RemoteError>> send(const std::string& mailbox, const model::OutgoingMessage& message) override;
  // Whether a message with the tag, anywhere in the mailbox, is no longer a draft.
  Task<Result<bool, model::RemoteError>> find_sent(const std::string& mailbox, const std::string& local_id) override;

  const GraphStats& stats() const { return stats_; }

 private:
  struct Call {
    std::string method = "GET";
    std::string url;
    std::string body;  // JSON, or empty
    std::vector<http::Header> headers;
    bool retry_safe = true;
  };
  // Sends `call` with a token (once more with a fresh one after a 401) and returns a 2xx answer
  // with its connection still leased, or the error any other answer means.
  Task<Result<http::Response, model::RemoteError>> send_call(const std::string& mailbox, std::string_view operation,
                                                             Call call);
  // The answer did not belong to its request: its connection is closed, and it is said.
  model::RemoteError refuse(http::Response& resp, const std::string& mailbox, std::string_view operation,
                            std::string why);
  struct TaggedMessage {
    std::string id;
    bool draft = true;
  };
  // The mailbox's messages tagged `local_id`, in any folder.
  Task<Result<std::vector<TaggedMessage>, model::RemoteError>> tagged_messages(const std::string& mailbox,
                                                                               const std::string& local_id);
  // Whether the draft holds every attachment of `message` (by name).
  Task<Result<bool, model::RemoteError>> draft_complete(const std::string& mailbox, const std::string& draft_id,
                                                        const model::OutgoingMessage& message);
  Task<Result<Unit, model::RemoteError>> send_draft(const std::string& mailbox, const std::string& draft_id);
  Task<Result<Unit, model::RemoteError>> upload_attachment(const std::string& mailbox, const std::string& message_id,
                                                           const model::Attachment& attachment,
                                                           const std::string& bytes);
  // One delta page: its entries, the ids it removes and the link that follows, each link checked
  // (under the root, for the same user). `resumed`: `url` is a link Graph gave.
  struct DeltaAnswer {
    std::vector<boost::json::object> entries;
    std::vector<std::string> removed;
    std::string link;
    bool last = false;
    std::string request_id;
  };
  Task<Result<DeltaAnswer, model::RemoteError>> delta(const std::string& mailbox, std::string url, bool resumed,
                                                      int max_changes);
  // One $batch of GETs of `paths` (under the root): the answers in the order asked, each
  // matched to its request by number. Errors: the batch's own.
  struct BatchAnswer {
    int status = 0;
    boost::json::value body;
    std::string retry_after;
    std::string request_id;
  };
  // One $batch of any requests (`body` null for none); batch_get() is one of GETs.
  struct SubRequest {
    std::string method;
    std::string url;
    boost::json::value body;
  };
  Task<Result<std::vector<BatchAnswer>, model::RemoteError>> batch(const std::string& mailbox,
                                                                   std::string_view operation,
                                                                   const std::vector<SubRequest>& requests);
  Task<Result<std::vector<BatchAnswer>, model::RemoteError>> batch_get(const std::string& mailbox,
                                                                       std::string_view operation,
                                                                       const std::vector<std::string>& paths);
  // What a sub-request's status and body mean.
  static model::RemoteError sub_error(const BatchAnswer& answer);
  // An answer whose content did not belong to its request, found after its connection went back
  // to the pool: counted and said, as refuse() does.
  model::RemoteError refused_answer(const std::string& mailbox, std::string_view operation, std::string request_id,
                                    std::string why);

  // The calendar (graph_calendar.cpp).
  Task<Result<model::ChangePage, model::RemoteError>> calendar_changes(const std::string& mailbox,
                                                                       const std::string& cursor, int max_changes);
  Task<Result<model::FetchedItems, model::RemoteError>> calendar_fetch(const std::string& mailbox,
                                                                       const std::vector<std::string>& ids);
  // The series' instances in the window, each checked to be of that series.
  Task<Result<std::vector<EventInstance>, model::RemoteError>> series_instances(const std::string& mailbox,
                                                                                const std::string& master_id,
                                                                                const BatchAnswer& first_page);
  // Every event id of the calendar (singles and series masters, any date).
  Task<Result<std::vector<std::string>, model::RemoteError>> calendar_ids(const std::string& mailbox);
  Task<Result<model::RemoteRef, model::RemoteError>> create_event(const std::string& mailbox,
                                                                  const model::Event& event,
                                                                  const std::string& local_id, bool notify);
  Task<Result<model::RemoteRef, model::RemoteError>> update_event(const std::string& mailbox,
                                                                  const model::RemoteRef& ref,
                                                                  const model::Event& before,
                                                                  const model::Event& after, bool overwrite,
                                                                  bool notify);
  Task<Result<model::RemoteItem, model::RemoteError>> write_event(const std::string& mailbox, std::string_view operation,
                                                                  std::string method, const std::string& id,
                                                                  std::string body, std::string if_match);
  Task<Result<model::RemoteRef, model::RemoteError>> series_ref(const std::string& mailbox, const std::string& id);
  Task<Result<std::string, model::RemoteError>> find_instance(const std::string& mailbox, const std::string& master_id,
                                                              const std::string& original_start);

  // The `value` list of a collection answer; a malformed one is refused (see refuse()).
  Result<boost::json::array, model::RemoteError> answer_list(http::Response& resp, const std::string& mailbox,
                                                             std::string_view operation);
  std::string user_url(const std::string& mailbox) const;
  // Whether a list's next link may be followed for `mailbox`: under the root, for that user.
  bool follows(const std::string& link, const std::string& mailbox) const;
  // Whether `link` is under the configured root (so that the token may go to it).
  bool under_root(std::string_view link) const;

  http::Client& client_;
  auth::TokenSource& tokens_;
  GraphSettings settings_;
  GraphStats stats_;
};

}  // namespace exsync::graph
