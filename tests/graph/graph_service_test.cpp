// The Graph backend against the simulator's Graph endpoint over real HTTPS: delta paging,
// changes made in Outlook (through the simulator's control API, as EWS shows them too), expired
// tokens, tagged creates found again, conflicting updates and deletes.
#include "exsync/graph/graph_service.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "../sync/ews_stack.hpp"
#include "exsync/auth/entra_token_source.hpp"
#include "exsync/model/tag.hpp"
#include "test_support.hpp"

namespace exsync::graph {
namespace {

using model::FolderKind;
using model::RemoteErrorKind;

class GraphServiceTest : public ::testing::Test {
 protected:
  GraphServiceTest()
      : client_(std::move(*http::Client::create(io_.get_executor(), sim_.client_options()))),
        tokens_(io_.get_executor(), *client_, SystemClock::instance(), sim_.graph_app_settings()),
        graph_(*client_, tokens_, GraphSettings{sim_.graph_url()}) {}

  // Every page of a round from `cursor`; the cursor that ends it.
  std::vector<model::RemoteChange> round(std::string& cursor, int page_size, int* pages = nullptr) {
    std::vector<model::RemoteChange> all;
    for (int n = 0; n < 100; ++n) {
      auto page = test::run(io_, graph_.changes(mb_, FolderKind::contacts, cursor, page_size));
      EXPECT_TRUE(page) << page.error().message;
      if (!page) break;
      for (auto& c : page->changes) all.push_back(std::move(c));
      cursor = page->next_cursor;
      if (pages) ++*pages;
      if (page->last_page) break;
    }
    return all;
  }
  std::string sim_contact_path(const std::string& ews_id) {
    return "/sim/mailboxes/" + test::url_segment(mb_) + "/contacts/" + test::url_segment(ews_id);
  }

  const std::string mb_ = "agent1@contoso.onmicrosoft.com";
  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 25, .events = 1}};
  boost::asio::io_context io_;
  std::unique_ptr<http::Client> client_;
  auth::EntraTokenSource tokens_;
  GraphService graph_;
};

TEST_F(GraphServiceTest, ADeltaRoundPagesToItsDeltaLinkWithEveryContactsContent) {
  std::string cursor;
  int pages = 0;
  auto changes = round(cursor, 10, &pages);
  EXPECT_EQ(pages, 3) << "25 contacts, 10 a page";
  ASSERT_EQ(changes.size(), 25u);
  const auto in_exchange = sim_.contacts(mb_);
  std::set<std::string> names;
  for (const auto& c : changes) {
    ASSERT_TRUE(c.content) << "delta carries the content: no second read";
    names.insert(std::get<model::Contact>(*c.content).display_name);
    EXPECT_FALSE(c.ref.change_key.empty());
    EXPECT_EQ(in_exchange.count(c.ref.id), 0u) << "Graph's ids are not EWS's";
  }
  for (const auto& [id, line] : in_exchange)
    EXPECT_TRUE(names.contains(std::string(boost::json::parse(line).at("display_name").as_string()))) << line;
  EXPECT_NE(cursor.find("$deltatoken="), std::string::npos) << cursor;
  // Nothing changed: one request, no changes, a fresh deltaLink.
  auto again = test::run(io_, graph_.changes(mb_, FolderKind::contacts, cursor, 10));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->changes.empty());
  EXPECT_TRUE(again->last_page);
}

TEST_F(GraphServiceTest, OutlooksEditsAndDeletionsArriveInTheNextRound) {
  std::string cursor;
  round(cursor, 50);
  const auto first = sim_.contacts(mb_).begin()->first;
  const auto second = std::next(sim_.contacts(mb_).begin())->first;
  ASSERT_EQ(sim_.control("PATCH", sim_contact_path(first), R"({"company":"Outlook Realty"})").status, 200);
  ASSERT_EQ(sim_.control("DELETE", sim_contact_path(second)).status, 204);
  auto changes = round(cursor, 50);
  ASSERT_EQ(changes.size(), 2u);
  int edited = 0, removed = 0;
  for (const auto& c : changes) {
    if (c.kind == model::ChangeKind::deleted) {
      ++removed;
      EXPECT_FALSE(c.content);
    } else {
      ++edited;
      EXPECT_EQ(std::get<model::Contact>(*c.content).company, "Outlook Realty");
    }
  }
  EXPECT_EQ(edited, 1);
  EXPECT_EQ(removed, 1);
}

TEST_F(GraphServiceTest, AnExpiredDeltaTokenIsAnInvalidSyncStateAndALinkElsewhereIsNeverFollowed) {
  std::string cursor;
  round(cursor, 50);
  ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mb_) + "/invalidate-sync-states").status, 204);
  auto expired = test::run(io_, graph_.changes(mb_, FolderKind::contacts, cursor, 50));
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().kind, RemoteErrorKind::invalid_sync_state);
  EXPECT_EQ(expired.error().code, "SyncStateNotFound");
  // A stored link for another host (the setting changed, or a store tampered with): the folder
  // starts over, and no request goes there with the token.
  const auto before = client_->stats().requests;
  auto elsewhere = test::run(io_, graph_.changes(mb_, FolderKind::contacts,
                                                 "https://graph.example.net/v1.0/users/x/contactFolders/contacts/contacts/delta?$deltatoken=a", 50));
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().kind, RemoteErrorKind::invalid_sync_state);
  EXPECT_EQ(client_->stats().requests, before);
}

TEST_F(GraphServiceTest, ATaggedCreateIsFoundAgainAndAStaleUpdateIsAConflict) {
  model::Contact c;
  c.display_name = "Graph Lead";
  c.emails = {{"EmailAddress1", "lead@example.com", "Lead"}};
  auto created = test::run(io_, graph_.create(mb_, FolderKind::contacts, c, "7d0c1f0e-local", false));
  ASSERT_TRUE(created) << created.error().message;
  auto found = test::run(io_, graph_.find_created(mb_, FolderKind::contacts, "7d0c1f0e-local"));
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_TRUE(*found);
  EXPECT_EQ((*found)->id, created->id);
  auto none = test::run(io_, graph_.find_created(mb_, FolderKind::contacts, "someone-else"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  // The tag is the EWS backend's property: EWS finds what Graph created, by the same tag.
  test::EwsStack ews(sim_, io_);
  auto by_ews = test::run(io_, ews.ews->find_created(mb_, FolderKind::contacts, "7d0c1f0e-local"));
  ASSERT_TRUE(by_ews) << by_ews.error().message;
  ASSERT_TRUE(*by_ews);
  EXPECT_NE(sim_.contacts(mb_).at((*by_ews)->id).find("Graph Lead"), std::string::npos);
  EXPECT_EQ((*by_ews)->change_key, created->change_key) << "one item, one change key, either protocol";

  auto after = c;
  after.job_title = "Buyer";
  auto updated = test::run(io_, graph_.update(mb_, *created, c, after, false, false));
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_NE(updated->change_key, created->change_key);
  // The old change key no longer matches: 412, a conflict for the engine to resolve.
  auto stale = test::run(io_, graph_.update(mb_, *created, after, c, false, false));
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error().kind, RemoteErrorKind::conflict);
  auto fetched = test::run(io_, graph_.fetch(mb_, FolderKind::contacts, {created->id}));
  ASSERT_TRUE(fetched);
  ASSERT_EQ(fetched->items.size(), 1u);
  EXPECT_EQ(std::get<model::Contact>(fetched->items[0].payload).job_title, "Buyer");

  ASSERT_TRUE(test::run(io_, graph_.remove(mb_, model::FolderKind::contacts, *updated, false)));
  auto gone = test::run(io_, graph_.remove(mb_, model::FolderKind::contacts, *updated, false));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, RemoteErrorKind::item_not_found);
  auto missing = test::run(io_, graph_.fetch(mb_, FolderKind::contacts, {created->id}));
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->items.empty());
}

// Twenty reads in one $batch, its answers matched to the ids asked whatever their order; a
// contact gone meanwhile is left out; a throttled sub-request fails the read with its wait.
TEST_F(GraphServiceTest, ReadsGoTwentyToABatchAndASubRequestsThrottlingIsHonoured) {
  std::string cursor;
  auto changes = round(cursor, 50);
  std::vector<std::string> ids;
  for (const auto& c : changes) ids.push_back(c.ref.id);
  ids.resize(19);
  ids.push_back("AAkALgAAZXhzaW06bm8tc3VjaC1jb250YWN0");  // no such contact
  ASSERT_EQ(graph_.fetch_limit(), 20u);
  ASSERT_EQ(sim_.control("POST", "/sim/stats/reset").status, 204);
  auto fetched = test::run(io_, graph_.fetch(mb_, FolderKind::contacts, ids));
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(sim_.graph_operation_count("batch"), 1) << "one request";
  ASSERT_EQ(fetched->items.size(), 19u);
  for (std::size_t i = 0; i < 19; ++i) EXPECT_EQ(fetched->items[i].ref.id, ids[i]) << "in the order asked";

  ASSERT_EQ(sim_.control("PUT", "/sim/faults/graph", R"({"throttle":1,"retry_after":3})").status, 204);
  auto throttled = test::run(io_, graph_.fetch(mb_, FolderKind::contacts, ids));
  ASSERT_FALSE(throttled);
  EXPECT_EQ(throttled.error().kind, RemoteErrorKind::throttled);
  EXPECT_EQ(throttled.error().retry_after, std::chrono::seconds(3));
  EXPECT_TRUE(test::run(io_, graph_.fetch(mb_, FolderKind::contacts, ids))) << "then it answers";
}

// New contacts go twenty to a $batch of POSTs; Graph answers them in any order, and each
// outcome is matched to its own contact, each tagged so that find_created() finds it.
TEST_F(GraphServiceTest, CreatesGoTwentyToABatchEachAnsweredForItsOwnContact) {
  ASSERT_EQ(graph_.create_limit(), 20u);
  std::vector<model::RemoteMailboxService::NewItem> items;
  for (int i = 0; i < 20; ++i) {
    model::Contact c;
    c.display_name = "Batch Lead " + std::to_string(i);
    items.push_back({c, "batch-local-" + std::to_string(i)});
  }
  ASSERT_EQ(sim_.control("POST", "/sim/stats/reset").status, 204);
  auto made = test::run(io_, graph_.create_many(mb_, FolderKind::contacts, items));
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(sim_.graph_operation_count("batch"), 1) << "one request";
  ASSERT_EQ(made->size(), 20u);
  for (std::size_t i = 0; i < 20; ++i) {
    ASSERT_TRUE((*made)[i]) << (*made)[i].error().message;
    auto fetched = test::run(io_, graph_.fetch(mb_, FolderKind::contacts, {(*made)[i]->id}));
    ASSERT_TRUE(fetched && fetched->items.size() == 1u) << i;
    EXPECT_EQ(std::get<model::Contact>(fetched->items[0].payload).display_name, "Batch Lead " + std::to_string(i));
    auto found = test::run(io_, graph_.find_created(mb_, FolderKind::contacts, items[i].local_id));
    ASSERT_TRUE(found && *found) << i;
    EXPECT_EQ((*found)->id, (*made)[i]->id);
  }
  items.resize(21, items.front());
  EXPECT_FALSE(test::run(io_, graph_.create_many(mb_, FolderKind::contacts, items))) << "more than one $batch takes";
}

// What an attempt killed between its draft and its send leaves behind, and the next attempt: a
// complete draft is sent itself, an incomplete one is replaced, and a message sent is not sent
// again.
TEST_F(GraphServiceTest, ADraftLeftBehindIsSentWhenCompleteAndRebuiltWhenNot) {
  auto leave_draft = [&](const std::string& local_id, const std::vector<std::string>& names) {
    auto token = test::run(io_, tokens_.access_token());
    ASSERT_TRUE(token);
    boost::json::array attachments;
    for (const auto& n : names)
      attachments.push_back(boost::json::object{
          {"@odata.type", "#microsoft.graph.fileAttachment"}, {"name", n}, {"contentBytes", "aGk="}});
    http::Request r;
    r.method = "POST";
    r.url = sim_.graph_url() + "/users/" + mb_ + "/messages";
    r.headers = {{"Authorization", "Bearer " + *token}, {"Content-Type", "application/json"}};
    r.body = boost::json::serialize(boost::json::object{
        {"subject", "Left behind"},
        {"toRecipients", boost::json::array{boost::json::object{{"emailAddress", boost::json::object{{"address", "ann@example.com"}}}}}},
        {"attachments", std::move(attachments)},
        {"singleValueExtendedProperties",
         boost::json::array{boost::json::object{{"id", model::graph_tag_property_id()}, {"value", local_id}}}}});
    auto resp = test::run(io_, client_->send(std::move(r)));
    ASSERT_TRUE(resp);
    ASSERT_EQ(resp->status, 201) << resp->body;
  };
  auto message = [](const std::string& local_id, std::vector<std::string> names) {
    model::OutgoingMessage m;
    m.local_id = local_id;
    m.to = {{"", "ann@example.com"}};
    m.subject = "Built by exsync";
    for (auto& n : names) m.attachments.push_back({n, "text/plain", "aGk="});
    return m;
  };
  auto sent_subjects = [&] {
    std::vector<std::string> out;
    const auto sent = sim_.control("GET", "/sim/mailboxes/" + test::url_segment(mb_) + "/sent").body;
    for (std::size_t at = 0, nl; (nl = sent.find('\n', at)) != std::string::npos; at = nl + 1)
      out.emplace_back(boost::json::parse(sent.substr(at, nl - at)).at("subject").as_string());
    return out;
  };

  leave_draft("complete", {"a.txt"});
  ASSERT_TRUE(test::run(io_, graph_.send(mb_, message("complete", {"a.txt"}))));
  EXPECT_EQ(sent_subjects(), (std::vector<std::string>{"Left behind"})) << "the draft left behind went, not a copy";
  EXPECT_EQ(sim_.graph_operation_count("draft"), 1);

  leave_draft("incomplete", {"a.txt"});
  ASSERT_TRUE(test::run(io_, graph_.send(mb_, message("incomplete", {"a.txt", "b.txt"}))));
  EXPECT_EQ(sent_subjects(), (std::vector<std::string>{"Left behind", "Built by exsync"}));
  EXPECT_EQ(sim_.graph_operation_count("delete_message"), 1) << "the incomplete draft is gone";

  ASSERT_TRUE(test::run(io_, graph_.send(mb_, message("incomplete", {"a.txt", "b.txt"}))));
  EXPECT_EQ(sent_subjects().size(), 2u) << "a message sent is not sent again";
  EXPECT_EQ(sim_.graph_operation_count("send"), 2);
}

TEST_F(GraphServiceTest, TheFolderSizeAndTheRbacScopeAreGraphs) {
  auto n = test::run(io_, graph_.count(mb_, FolderKind::contacts));
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 25);
  // RBAC for Applications scoped to agent2 only: agent1 is out of reach.
  ASSERT_EQ(sim_.control("PUT", "/sim/tenant", R"({"graph_rbac_scope":["agent2@contoso.onmicrosoft.com"]})").status, 204);
  auto denied = test::run(io_, graph_.count(mb_, FolderKind::contacts));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().kind, RemoteErrorKind::access_denied);
  EXPECT_TRUE(test::run(io_, graph_.count("agent2@contoso.onmicrosoft.com", FolderKind::contacts)));
}

// The calendar's cursor carries its window: a round begun in an earlier month starts over with
// the new window (the engine reconciles with what is stored), a forgotten token is said to be
// one, and a link for another root is never followed.
TEST_F(GraphServiceTest, ACalendarCursorOfAnEarlierWindowOrAForgottenTokenStartsTheFolderOver) {
  std::string cursor;
  for (int n = 0; n < 20; ++n) {
    auto page = test::run(io_, graph_.changes(mb_, FolderKind::calendar, cursor, 50));
    ASSERT_TRUE(page) << page.error().message;
    cursor = page->next_cursor;
    if (page->last_page) break;
  }
  ASSERT_EQ(cursor.rfind("window=", 0), 0u) << cursor;
  auto again = test::run(io_, graph_.changes(mb_, FolderKind::calendar, cursor, 50));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->changes.empty());

  auto old_window = cursor;
  old_window.replace(7, 10, "2020-01-01");
  auto moved = test::run(io_, graph_.changes(mb_, FolderKind::calendar, old_window, 50));
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().kind, RemoteErrorKind::invalid_sync_state);
  EXPECT_EQ(moved.error().code, "WindowMoved");

  ASSERT_EQ(sim_.control("POST", "/sim/mailboxes/" + test::url_segment(mb_) + "/invalidate-sync-states").status, 204);
  auto forgotten = test::run(io_, graph_.changes(mb_, FolderKind::calendar, cursor, 50));
  ASSERT_FALSE(forgotten);
  EXPECT_EQ(forgotten.error().kind, RemoteErrorKind::invalid_sync_state) << forgotten.error().message;

  const auto sent = graph_.stats().delta_requests;
  auto elsewhere = test::run(io_, graph_.changes(mb_, FolderKind::calendar, "window=" + cursor.substr(7, 10) + " done https://attacker.example/graph/v1.0/users/x/calendar/calendarView/delta", 50));
  ASSERT_FALSE(elsewhere);
  EXPECT_EQ(elsewhere.error().kind, RemoteErrorKind::invalid_sync_state);
  EXPECT_EQ(graph_.stats().delta_requests, sent) << "the token never goes to another host";
}

}  // namespace
}  // namespace exsync::graph
