#include "exsync/sync/mailbox_sync.hpp"

#include <chrono>

#include "exsync/log/log.hpp"

namespace exsync::sync {

namespace {

void log_failure(const std::string& mailbox, std::string_view what, const SyncError& e) {
  const bool remote = e.kind == SyncError::Kind::remote;
  log::warn("sync.mailbox.failed", {{"mailbox", mailbox},
                                    {"folder", what},
                                    {"kind", e.kind_name()},
                                    {"reason", e.reason()},
                                    {"code", remote ? e.remote.code : ""},
                                    {"retry_after_ms", remote ? e.remote.retry_after.count() : 0},
                                    {"request_id", remote ? e.remote.request_id : ""},
                                    {"message", e.message()}});
}

}  // namespace

Task<MailboxOutcome> sync_mailbox(SyncEngine& engine, const std::string& mailbox,
                                  const std::vector<model::FolderKind>& folders) {
  MailboxOutcome outcome;
  outcome.mailbox = mailbox;
  auto sent = co_await engine.send_messages(mailbox);
  if (!sent) {
    log_failure(mailbox, "messages", sent.error());
    outcome.error = sent.error();
    co_return outcome;
  }
  for (auto folder : folders) {
    const auto started = std::chrono::steady_clock::now();
    auto r = co_await engine.sync_folder(mailbox, folder);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    if (!r) {
      log_failure(mailbox, model::folder_name(folder), r.error());
      if (!outcome.error) outcome.error = r.error();
      break;  // the next folder would most likely fail the same way
    }
    log::info("sync.folder.done", {{"mailbox", mailbox},
                                   {"folder", model::folder_name(folder)},
                                   {"created", r->created},
                                   {"updated", r->updated},
                                   {"deleted", r->deleted},
                                   {"pages", r->pages},
                                   {"resynced", r->resynced},
                                   {"written", r->written},
                                   {"write_failures", r->write_failures},
                                   {"conflicts", r->conflicts},
                                   {"deletions_held", r->deletions_held},
                                   {"quarantined", r->quarantined},
                                   {"throttled", r->throttled},
                                   {"interrupted", r->interrupted},
                                   {"duration_ms", ms.count()}});
    outcome.totals.created += r->created;
    outcome.totals.updated += r->updated;
    outcome.totals.deleted += r->deleted;
    outcome.totals.pages += r->pages;
    outcome.totals.fetched += r->fetched;
    outcome.totals.written += r->written;
    outcome.totals.throttled += r->throttled;
    outcome.totals.resynced |= r->resynced;
    outcome.totals.interrupted |= r->interrupted;
    if (r->interrupted) break;
  }
  co_return outcome;
}

}  // namespace exsync::sync
