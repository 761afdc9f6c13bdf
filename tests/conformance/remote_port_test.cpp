// The remote port's contract (model/ports.hpp), one suite for every backend: the EWS adapter and
// the Graph adapter, each against the simulator's endpoint for its protocol over real HTTPS, on
// the same tenant. What the engine relies on (paging to a last page, a forgotten cursor said as
// such, creates found again by their tag, stale change keys refused as conflicts, deletes, mail
// sent once and found again, the server's wait in a throttling refusal) holds for each alike.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "exsync/auth/entra_token_source.hpp"
#include "exsync/ews/ews_service.hpp"
#include "exsync/graph/graph_service.hpp"
#include "exsync/model/event_json.hpp"
#include "graph_endpoint.hpp"
#include "test_support.hpp"

namespace exsync {
namespace {

using model::FolderKind;
using model::RemoteErrorKind;
namespace json = boost::json;

class RemotePortTest : public ::testing::TestWithParam<std::string> {
 protected:
  RemotePortTest() : client_(std::move(*http::Client::create(io_.get_executor(), sim_.client_options()))) {
    if (graph()) {
      tokens_ = std::make_unique<auth::EntraTokenSource>(io_.get_executor(), *client_, SystemClock::instance(),
                                                         sim_.graph_app_settings());
      remote_ = std::make_unique<graph::GraphService>(*client_, *tokens_, graph::GraphSettings{sim_.graph_url()});
    } else {
      tokens_ = std::make_unique<auth::EntraTokenSource>(io_.get_executor(), *client_, SystemClock::instance(),
                                                         sim_.ropc_settings());
      remote_ = std::make_unique<ews::EwsService>(
          *client_, *tokens_, ews::EwsSettings{sim_.base_url() + "/EWS/Exchange.asmx", 16, ews::Addressing::impersonation});
    }
  }
  bool graph() const { return GetParam() == "graph"; }
  void TearDown() override {
    if (graph()) EXPECT_EQ(sim_.stat("graph_without_immutable_ids"), 0) << "every Graph request asks for immutable ids";
  }
  template <typename T>
  T run(Task<T> task) {
    return test::run(io_, std::move(task));
  }
  // The simulator's EWS id for this backend's id of the same item.
  std::string ews_id_of(const std::string& id) { return graph() ? sim::ews_id(id).value_or("") : id; }

  // Every page of a round from `cursor` (which it moves on); the items it names, by id.
  std::map<std::string, model::RemoteChange> round(std::string& cursor, int page_size, int* pages = nullptr) {
    std::map<std::string, model::RemoteChange> out;
    for (int n = 0; n < 100; ++n) {
      auto page = run(remote_->changes(mb_, FolderKind::contacts, cursor, page_size));
      EXPECT_TRUE(page) << page.error().message;
      if (!page) break;
      EXPECT_LE(static_cast<int>(page->changes.size()), page_size);
      for (auto& c : page->changes) out.insert_or_assign(c.ref.id, std::move(c));
      cursor = page->next_cursor;
      if (pages) ++*pages;
      if (page->last_page) return out;
    }
    ADD_FAILURE() << "no last page";
    return out;
  }
  // The contact's current content: from the change when it carries it, else fetched.
  model::Contact content(const model::RemoteChange& change) {
    if (change.content) return std::get<model::Contact>(*change.content);
    auto got = run(remote_->fetch(mb_, FolderKind::contacts, {change.ref.id}));
    EXPECT_TRUE(got && got->items.size() == 1);
    return got && got->items.size() == 1 ? std::get<model::Contact>(got->items[0].payload) : model::Contact{};
  }

  const std::string mb_ = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 20, .events = 5}};
  boost::asio::io_context io_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<auth::EntraTokenSource> tokens_;
  std::unique_ptr<model::RemoteMailboxService> remote_;
};

TEST_P(RemotePortTest, ARoundPagesToItsLastPageAndNamesEveryItemWithItsContent) {
  std::string cursor;
  int pages = 0;
  auto items = round(cursor, 7, &pages);
  EXPECT_EQ(pages, 3) << "20 items, 7 a page";
  ASSERT_EQ(items.size(), 20u);
  EXPECT_EQ(*run(remote_->count(mb_, FolderKind::contacts)), 20);
  const auto in_exchange = sim_.contacts(mb_);
  for (const auto& [id, change] : items) {
    ASSERT_TRUE(in_exchange.contains(ews_id_of(id))) << id;
    EXPECT_FALSE(change.ref.change_key.empty());
    EXPECT_EQ(json::value(content(change).display_name),
              json::parse(in_exchange.at(ews_id_of(id))).at("display_name"));
  }
  // Nothing changed since: one last page, empty.
  auto again = run(remote_->changes(mb_, FolderKind::contacts, cursor, 7));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->changes.empty());
  EXPECT_TRUE(again->last_page);
}

TEST_P(RemotePortTest, AForgottenCursorIsSaidToBeOneAndARoundFromScratchStillWorks) {
  std::string cursor;
  round(cursor, 50);
  ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mb_) + "/invalidate-sync-states").status, 204);
  auto refused = run(remote_->changes(mb_, FolderKind::contacts, cursor, 50));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, RemoteErrorKind::invalid_sync_state) << refused.error().message;
  std::string fresh;
  EXPECT_EQ(round(fresh, 50).size(), 20u);
}

TEST_P(RemotePortTest, ACreateIsFoundAgainByItsTagAndArrivesInTheNextRound) {
  std::string cursor;
  round(cursor, 50);
  model::Contact c;
  c.display_name = "Conformance Buyer";
  auto created = run(remote_->create(mb_, FolderKind::contacts, c, "local-conformance-1", false));
  ASSERT_TRUE(created) << created.error().message;
  auto found = run(remote_->find_created(mb_, FolderKind::contacts, "local-conformance-1"));
  ASSERT_TRUE(found && *found) << "the tag finds it";
  EXPECT_EQ((*found)->id, created->id);
  auto none = run(remote_->find_created(mb_, FolderKind::contacts, "local-conformance-2"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto next = round(cursor, 50);
  ASSERT_TRUE(next.contains(created->id));
  EXPECT_EQ(content(next.at(created->id)).display_name, "Conformance Buyer");
}

TEST_P(RemotePortTest, AnUpdateFromAStaleChangeKeyIsAConflictUnlessItOverwrites) {
  std::string cursor;
  const auto items = round(cursor, 50);
  const auto& [id, change] = *items.begin();
  const auto before = content(change);
  auto after = before;
  after.job_title = "First edit";
  auto updated = run(remote_->update(mb_, change.ref, before, after, false, false));
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->id, id);
  EXPECT_NE(updated->change_key, change.ref.change_key);
  auto stale = after;
  stale.job_title = "Written from a stale version";
  auto refused = run(remote_->update(mb_, change.ref, before, stale, false, false));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, RemoteErrorKind::conflict) << refused.error().message;
  auto forced = run(remote_->update(mb_, change.ref, after, stale, true, false));
  ASSERT_TRUE(forced) << forced.error().message;
  EXPECT_NE(sim_.contacts(mb_).at(ews_id_of(id)).find("Written from a stale version"), std::string::npos);
}

TEST_P(RemotePortTest, ADeleteRemovesTheItemAndASecondFindsNothing) {
  std::string cursor;
  const auto items = round(cursor, 50);
  const auto ref = items.begin()->second.ref;
  ASSERT_TRUE(run(remote_->remove(mb_, model::FolderKind::contacts, ref, false)));
  EXPECT_FALSE(sim_.contacts(mb_).contains(ews_id_of(ref.id)));
  auto again = run(remote_->remove(mb_, model::FolderKind::contacts, ref, false));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, RemoteErrorKind::item_not_found) << again.error().message;
  auto next = round(cursor, 50);
  ASSERT_TRUE(next.contains(ref.id));
  EXPECT_EQ(next.at(ref.id).kind, model::ChangeKind::deleted);
}

TEST_P(RemotePortTest, AMessageGoesOutOnceAndIsFoundAfterwards) {
  model::OutgoingMessage m;
  m.local_id = "conformance-message-1";
  m.to = {{"Ann", "ann@example.com"}};
  m.subject = "Showing on Saturday";
  m.body = "See you at 10.";
  EXPECT_FALSE(*run(remote_->find_sent(mb_, m.local_id)));
  auto sent = run(remote_->send(mb_, m));
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_TRUE(*run(remote_->find_sent(mb_, m.local_id)));
  const auto copies = sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb_) + "/sent").body;
  EXPECT_EQ(std::count(copies.begin(), copies.end(), '\n'), 1) << copies;
}

TEST_P(RemotePortTest, AThrottlingRefusalIsThrottledWithTheServersWait) {
  if (graph())
    ASSERT_EQ(sim_.control("PUT", "/sim/faults/graph", R"({"throttle":1,"retry_after":2})").status, 204);
  else
    ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", R"({"kind":"server_busy","count":1,"backoff_ms":2000})").status, 204);
  auto refused = run(remote_->changes(mb_, FolderKind::contacts, "", 50));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, RemoteErrorKind::throttled) << refused.error().message;
  EXPECT_EQ(refused.error().retry_after, std::chrono::milliseconds(2000));
  EXPECT_TRUE(run(remote_->changes(mb_, FolderKind::contacts, "", 50))) << "then it answers";
}

TEST_P(RemotePortTest, IdsOfTheOtherBackendAreTranslatedOrRefusedPlainly) {
  std::string cursor;
  const auto items = round(cursor, 50);
  std::vector<std::string> ews_ids;
  for (const auto& [id, change] : items) ews_ids.push_back(ews_id_of(id));
  if (graph()) {
    EXPECT_EQ(remote_->id_space(), "graph");
    ews_ids.push_back("AAMkADnot-an-item");
    auto translated = run(remote_->translate_ids(mb_, "ews", ews_ids));
    ASSERT_TRUE(translated) << translated.error().message;
    EXPECT_EQ(translated->size(), items.size()) << "the id that names no item is left out";
    for (const auto& [id, change] : items) EXPECT_EQ(translated->at(ews_id_of(id)), id);
  } else {
    EXPECT_EQ(remote_->id_space(), "ews");
    auto refused = run(remote_->translate_ids(mb_, "graph", ews_ids));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, RemoteErrorKind::setup);
    EXPECT_NE(refused.error().message.find("cannot go back from Graph to EWS"), std::string::npos);
  }
}

// The calendar: a round names every event (a series once, however many occurrences), each read
// whole as the tenant holds it (a series with its moved and cancelled occurrences); a single
// event written is found again by its tag, refused from a stale change key, and deleted.
TEST_P(RemotePortTest, TheCalendarReadsAsTheTenantHoldsItAndItsEventsAreWrittenOnce) {
  std::map<std::string, model::Event> got;  // by uid
  std::string cursor;
  std::vector<std::string> unread;
  for (int n = 0; n < 100; ++n) {
    auto page = run(remote_->changes(mb_, FolderKind::calendar, cursor, 2));
    ASSERT_TRUE(page) << page.error().message;
    for (auto& c : page->changes) {
      ASSERT_NE(c.kind, model::ChangeKind::deleted);
      if (c.content) got[std::get<model::Event>(*c.content).uid] = std::get<model::Event>(*c.content);
      else if (std::find(unread.begin(), unread.end(), c.ref.id) == unread.end()) unread.push_back(c.ref.id);
    }
    cursor = page->next_cursor;
    if (page->last_page) break;
  }
  for (std::size_t at = 0; at < unread.size(); at += remote_->fetch_limit()) {
    std::vector<std::string> slice(unread.begin() + at, unread.begin() + std::min(unread.size(), at + remote_->fetch_limit()));
    auto fetched = run(remote_->fetch(mb_, FolderKind::calendar, slice));
    ASSERT_TRUE(fetched) << fetched.error().message;
    ASSERT_EQ(fetched->items.size(), slice.size());
    for (auto& item : fetched->items) got[std::get<model::Event>(item.payload).uid] = std::get<model::Event>(item.payload);
  }
  std::istringstream lines(sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb_) + "/events").body);
  std::string line;
  int events = 0;
  bool series = false;
  while (std::getline(lines, line)) {
    auto want = model::event_from_json(line);
    ASSERT_TRUE(want) << want.error();
    ++events;
    ASSERT_TRUE(got.contains(want->uid)) << "the round lacks " << line;
    auto have = got.at(want->uid);
    // An occurrence's own id is the protocol's, as the item's is.
    for (auto* e : {&*want, &have})
      for (auto& m : e->modified_occurrences) m.ews_id.clear();
    EXPECT_EQ(model::event_to_json(have, std::nullopt), model::event_to_json(*want, std::nullopt));
    series |= want->recurrence && !want->modified_occurrences.empty() && !want->deleted_occurrences.empty();
  }
  EXPECT_EQ(static_cast<int>(got.size()), events);
  EXPECT_TRUE(series) << "the sample holds a series with a moved and a cancelled occurrence";

  model::Event e;
  e.subject = "Conformance showing";
  e.time_zone = "Europe/Berlin";
  e.start = "2027-02-01T10:00:00+01:00";
  e.end = "2027-02-01T11:00:00+01:00";
  e.free_busy = "Busy";
  e.sensitivity = "Normal";
  auto created = run(remote_->create(mb_, FolderKind::calendar, e, "conformance-event-1", false));
  ASSERT_TRUE(created) << created.error().message;
  auto found = run(remote_->find_created(mb_, FolderKind::calendar, "conformance-event-1"));
  ASSERT_TRUE(found && *found) << (found ? "not found" : found.error().message);
  EXPECT_EQ((*found)->id, created->id);
  auto moved = e;
  moved.location = "Office";
  auto updated = run(remote_->update(mb_, *created, e, moved, false, false));
  ASSERT_TRUE(updated) << updated.error().message;
  auto stale = run(remote_->update(mb_, *created, e, moved, false, false));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().kind, RemoteErrorKind::conflict) << stale.error().message;
  ASSERT_TRUE(run(remote_->remove(mb_, FolderKind::calendar, *updated, false)));
  auto gone = run(remote_->find_created(mb_, FolderKind::calendar, "conformance-event-1"));
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
}

INSTANTIATE_TEST_SUITE_P(Backends, RemotePortTest, ::testing::Values("ews", "graph"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace exsync
