// The store's size after a simulated month of a tenant, with the daemon's retention applied
// daily. Not a test: scripts/bench runs it and records the figures.
//   exsync-store-bench DIR [MAILBOXES] [DAYS]
//
// Each mailbox starts with 250 contacts and 50 events; each day it gets 10 contact changes
// from Exchange, 3 CRM edits written back, and 2 messages with a 40 KB attachment. After each day
// every timestamp is moved a day into the past (the store's clock is SQLite's), and the store
// prunes as `exsyncd run` does hourly, with the default [store] keep_*_days.
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "exsync/model/contact_json.hpp"
#include "exsync/store/sqlite_store.hpp"

namespace {

using namespace exsync;

model::RemoteItem contact(int mailbox, int i, int version) {
  model::Contact c;
  c.display_name = "Contact " + std::to_string(mailbox) + "-" + std::to_string(i);
  c.given_name = "Contact";
  c.surname = std::to_string(i);
  c.company = "Realty " + std::to_string(version);
  c.job_title = "Buyer";
  c.emails = {{"EmailAddress1", "c" + std::to_string(i) + "@example.com", ""}};
  c.phones = {{"MobilePhone", "+1 555 " + std::to_string(1000000 + i)}};
  c.notes = "Met at the open house; prefers a call after 5 pm.";
  return {{"AAMk" + std::to_string(mailbox) + "-" + std::to_string(i), std::to_string(version)}, c};
}

model::RemoteItem event(int mailbox, int i) {
  model::Event e;
  e.subject = "Showing " + std::to_string(i);
  e.location = "12 Main St";
  e.start = "2027-01-10T10:00:00-05:00";
  e.end = "2027-01-10T11:00:00-05:00";
  e.time_zone = "America/New_York";
  return {{"AAMkE" + std::to_string(mailbox) + "-" + std::to_string(i), "1"}, e};
}

long long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : 0;
}

void age_one_day(const std::string& db) {
  sqlite3* h = nullptr;
  sqlite3_open(db.c_str(), &h);
  sqlite3_busy_timeout(h, 5000);
  sqlite3_exec(h,
               "UPDATE changes SET at = strftime('%Y-%m-%dT%H:%M:%SZ', at, '-1 day');"
               "UPDATE conflicts SET at = strftime('%Y-%m-%dT%H:%M:%SZ', at, '-1 day');"
               "UPDATE messages SET sent_at = strftime('%Y-%m-%dT%H:%M:%SZ', sent_at, '-1 day'), "
               "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', updated_at, '-1 day');",
               nullptr, nullptr, nullptr);
  sqlite3_close(h);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: exsync-store-bench DIR [MAILBOXES] [DAYS]\n");
    return 2;
  }
  const std::string db = std::string(argv[1]) + "/exsync.db";
  const int mailboxes = argc > 2 ? std::atoi(argv[2]) : 500;
  const int days = argc > 3 ? std::atoi(argv[3]) : 30;
  auto opened = store::SqliteStore::open(db);
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  auto& s = **opened;
  const auto address = [](int m) { return "agent" + std::to_string(m) + "@contoso.com"; };
  for (int m = 0; m < mailboxes; ++m) {
    model::PageCommit page;
    for (int i = 0; i < 250; ++i) page.upserts.push_back(contact(m, i, 1));
    page.next_cursor = "c0";
    page.completes_sync = true;
    if (!s.commit_page(address(m), model::FolderKind::contacts, page)) return 1;
    model::PageCommit events;
    for (int i = 0; i < 50; ++i) events.upserts.push_back(event(m, i));
    events.next_cursor = "e0";
    events.completes_sync = true;
    if (!s.commit_page(address(m), model::FolderKind::calendar, events)) return 1;
  }
  const long long initial = file_size(db) + file_size(db + "-wal");
  const std::string attachment((40 << 10) * 4 / 3, 'Q');  // 40 KB, as Base64
  long long peak = 0;
  std::int64_t pruned_changes = 0, pruned_messages = 0;
  for (int day = 1; day <= days; ++day) {
    for (int m = 0; m < mailboxes; ++m) {
      model::PageCommit page;
      for (int k = 0; k < 10; ++k) page.upserts.push_back(contact(m, (day * 10 + k) % 250, day + 1));
      page.next_cursor = "c" + std::to_string(day);
      page.completes_sync = true;
      if (!s.commit_page(address(m), model::FolderKind::contacts, page)) return 1;
      auto items = s.items_page(address(m), model::FolderKind::contacts, "", 3);
      for (const auto& item : *items) {
        auto c = *model::contact_from_json(item.payload_json);
        c.job_title = "Seller " + std::to_string(day);
        if (!s.local_update(address(m), model::FolderKind::contacts, item.local_id, c)) return 1;
      }
      for (const auto& w : *s.pending_writes(address(m), model::FolderKind::contacts)) {
        if (!s.begin_write(w) || !s.complete_write(w, {w.ref.id, "w" + std::to_string(day)})) return 1;
      }
      for (int k = 0; k < 2; ++k) {
        model::OutgoingMessage msg;
        msg.to = {{"", "buyer@example.com"}};
        msg.subject = "Listing " + std::to_string(day);
        msg.body = "Here is the flyer.";
        msg.attachments = {{"flyer.pdf", "application/pdf", attachment}};
        auto id = s.queue_message(address(m), msg);
        if (!id || !s.begin_send(*id) || !s.finish_send(*id, true, "", true)) return 1;
      }
    }
    age_one_day(db);
    auto p = s.prune({});
    if (!p) {
      std::fprintf(stderr, "prune: %s\n", p.error().message.c_str());
      return 1;
    }
    pruned_changes += p->changes;
    pruned_messages += p->messages;
    peak = std::max(peak, file_size(db) + file_size(db + "-wal"));
  }
  const long long final_size = file_size(db) + file_size(db + "-wal");
  std::printf("mailboxes=%d days=%d initial_mb=%.1f final_mb=%.1f peak_mb=%.1f wal_mb=%.1f pruned_changes=%lld pruned_messages=%lld\n",
              mailboxes, days, initial / 1048576.0, final_size / 1048576.0, peak / 1048576.0,
              file_size(db + "-wal") / 1048576.0, static_cast<long long>(pruned_changes),
              static_cast<long long>(pruned_messages));
  return 0;
}
