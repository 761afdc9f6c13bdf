// Tenant isolation against servers and proxies out of step with their requests. Two mailboxes
// share one HTTP client (and so its connections), as in the daemon; the simulator answers one
// operation of theirs twice (gromox), or delivers answers one request late from then on (a
// desynchronising proxy), with and without echoing client-request-id. For every operation the
// engine drives, while both mailboxes change on both sides: nothing of one mailbox lands in the
// other's store or mailbox, nothing is sent or created twice, nothing is taken as written that
// was not, and every store converges to its own mailbox.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <sstream>

#include "ews_stack.hpp"
#include "exsync/model/contact_json.hpp"
#include "exsync/model/message_json.hpp"
#include "exsync/store/sqlite_store.hpp"
#include "exsync/sync/sync_engine.hpp"
#include "test_support.hpp"

namespace exsync::sync {
namespace {

using model::FolderKind;

struct Misbehaviour {
  std::string kind;  // the simulator's fault kind
  bool echo;         // whether the server echoes client-request-id
};

std::ostream& operator<<(std::ostream& os, const Misbehaviour& m) {
  return os << m.kind << (m.echo ? "" : "_without_request_ids");
}

const std::vector<std::string> kMailboxes = {"agent1@contoso.onmicrosoft.com", "agent2@contoso.onmicrosoft.com"};

class MisdeliveredAnswerTest : public ::testing::TestWithParam<Misbehaviour> {
 protected:
  void SetUp() override {
    ASSERT_EQ(sim_.control("PUT", "/sim/tenant", GetParam().echo ? R"({"echo_request_id":true})"
                                                                  : R"({"echo_request_id":false})")
                  .status,
              204);
    remote_ = std::make_unique<test::EwsStack>(sim_, io_, 4);
    store_ = std::move(*store::SqliteStore::open(dir_ / "exsync.db"));
    SyncOptions options;
    options.max_changes_per_page = 4;
    engine_ = std::make_unique<SyncEngine>(*remote_->ews, *store_, pool_, options);
  }
  void TearDown() override { pool_.join(); }

  std::vector<boost::json::object> lines(const std::string& path) {
    std::vector<boost::json::object> out;
    std::istringstream in(sim_.control("GET", path).body);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) out.push_back(boost::json::parse(line).as_object());
    return out;
  }
  std::multiset<std::string> exchange_names(const std::string& mb) {
    std::multiset<std::string> out;
    for (const auto& c : lines("/sim/mailboxes/" + test::url_segment(mb) + "/contacts"))
      out.insert(std::string(c.at("display_name").as_string()));
    return out;
  }
  std::multiset<std::string> sent_subjects(const std::string& mb) {
    std::multiset<std::string> out;
    for (const auto& m : lines("/sim/mailboxes/" + test::url_segment(mb) + "/sent"))
      out.insert(std::string(m.at("subject").as_string()));
    return out;
  }
  // The mailbox's contacts in Exchange, by id, and in the store.
  std::map<std::string, std::string> exchange_contacts(const std::string& mb) {
    std::map<std::string, std::string> out;
    for (const auto& c : lines("/sim/mailboxes/" + test::url_segment(mb) + "/contacts"))
      out[std::string(c.at("ews_id").as_string())] = std::string(c.at("display_name").as_string());
    return out;
  }
  std::map<std::string, std::string> stored_contacts(const std::string& mb) {
    std::map<std::string, std::string> out;
    for (const auto& item : *store_->items(mb, FolderKind::contacts))
      out[item.remote.id] = model::contact_from_json(item.payload_json)->display_name;
    return out;
  }
  // One pass of every mailbox, as the scheduler runs them; failures are expected during the fault.
  void round() {
    for (const auto& mb : kMailboxes) {
      (void)test::run(io_, engine_->send_messages(mb));
      (void)test::run(io_, engine_->sync_folder(mb, FolderKind::contacts));
    }
  }

  test::Simulator sim_{test::SimOptions{.mailboxes = 2, .contacts = 6, .events = 0}};
  test::TempDir dir_;
  boost::asio::io_context io_;
  net::thread_pool pool_{1};
  std::unique_ptr<test::EwsStack> remote_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<SyncEngine> engine_;
};

TEST_P(MisdeliveredAnswerTest, NoMailboxEverGetsAnothersAnswerWhateverTheOperation) {
  const auto& m = GetParam();
  round();  // both mailboxes synced once, undisturbed
  std::map<std::string, std::multiset<std::string>> created, sent;  // what the CRM asked, per mailbox
  for (const std::string op : {"SyncFolderItems", "GetItem", "GetFolder", "CreateItem", "UpdateItem", "DeleteItem",
                               "FindItem"}) {
    SCOPED_TRACE(op);
    // Both sides change in both mailboxes.
    for (const auto& mb : kMailboxes) {
      const auto seg = test::url_segment(mb);
      const auto tag = op + " " + mb;
      sim_.control("POST", "/sim/mailboxes/" + seg + "/contacts", R"({"display_name":"Outlook )" + tag + R"("})");
      ASSERT_TRUE(store_->local_create(mb, FolderKind::contacts,
                                       *model::contact_from_json(R"({"display_name":"CRM )" + tag + R"("})")));
      created[mb].insert("CRM " + tag);
      auto stored = *store_->items(mb, FolderKind::contacts);
      ASSERT_GE(stored.size(), 2u);
      auto edited = *model::contact_from_json(stored.front().payload_json);
      edited.job_title = "Edited " + tag;
      ASSERT_TRUE(store_->local_update(mb, FolderKind::contacts, stored.front().local_id, edited));
      // Deleted: a contact of Exchange's own (the CRM's are counted above).
      for (auto it = stored.rbegin(); it != stored.rend(); ++it) {
        if (model::contact_from_json(it->payload_json)->display_name.rfind("CRM ", 0) == 0) continue;
        ASSERT_TRUE(store_->local_delete(mb, FolderKind::contacts, it->local_id));
        break;
      }
      auto message = *model::message_from_json(R"({"to":["ann@example.com"],"subject":"Mail )" + tag +
                                               R"(","text":"Hello"})");
      ASSERT_TRUE(store_->queue_message(mb, message));
      sent[mb].insert("Mail " + tag);
    }
    const std::string fault = R"({"kind":")" + m.kind + R"(","operation":")" + op + R"(","count":2})";
    ASSERT_EQ(sim_.control("PUT", "/sim/faults/ews", fault).status, 204);
    if (op == "GetFolder") {
      // GetFolder is asked when a folder's sync begins: start agent2's over.
      sim_.control("POST", "/sim/mailboxes/" + test::url_segment(kMailboxes[1]) + "/invalidate-sync-states");
    }
    for (int i = 0; i < 3; ++i) round();
    sim_.control("DELETE", "/sim/faults/ews");
    for (int i = 0; i < 3; ++i) round();

    for (const auto& mb : kMailboxes) {
      SCOPED_TRACE(mb);
      EXPECT_EQ(stored_contacts(mb), exchange_contacts(mb)) << "the store is its own mailbox's, exactly";
      const auto names = exchange_names(mb);
      for (const auto& name : created[mb]) EXPECT_EQ(names.count(name), 1u) << name << " exactly once in Exchange";
      const auto subjects = sent_subjects(mb);
      for (const auto& subject : sent[mb]) EXPECT_EQ(subjects.count(subject), 1u) << subject << " sent exactly once";
      const auto& other = mb == kMailboxes[0] ? kMailboxes[1] : kMailboxes[0];
      for (const auto& name : created[other]) EXPECT_EQ(names.count(name), 0u) << name << " is " << other << "'s";
      for (const auto& subject : sent[other]) EXPECT_EQ(subjects.count(subject), 0u) << subject << " is " << other << "'s";
      for (const auto& [id, name] : stored_contacts(mb))
        EXPECT_EQ(name.find(other), std::string::npos) << name << " in " << mb << "'s store";
    }
    if (HasFailure()) return;
  }
}

INSTANTIATE_TEST_SUITE_P(Servers, MisdeliveredAnswerTest,
                         ::testing::Values(Misbehaviour{"answer_twice", true}, Misbehaviour{"answer_twice", false},
                                           Misbehaviour{"late", true}, Misbehaviour{"late", false}),
                         [](const ::testing::TestParamInfo<Misbehaviour>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

}  // namespace
}  // namespace exsync::sync
