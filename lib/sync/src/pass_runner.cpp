#include "exsync/sync/pass_runner.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <chrono>

#include "exsync/log/log.hpp"

namespace exsync::sync {

int PassReport::failed() const {
  int n = 0;
  for (const auto& m : mailboxes) n += m.error ? 1 : 0;
  return n;
}

namespace {

void log_failure(const std::string& mailbox, std::string_view what, const SyncError& e) {
  const bool remote = e.kind == SyncError::Kind::remote;
  log::warn("sync.mailbox.failed", {{"mailbox", mailbox},
                                    {"folder", what},
                                    {"kind", e.kind_name()},
                                    {"reason", e.reason()},
                                    {"code", remote ? e.remote.code : ""},
                                    {"retry_after_ms", remote ? e.remote.retry_after.count() : 0},
                                    {"message", e.message()}});
}

}  // namespace

Task<void> PassRunner::worker(const std::vector<std::string>& mailboxes, const std::vector<model::FolderKind>& folders,
                              std::size_t& next, PassReport& report) {
  // Single-threaded executor: taking `next` needs no lock.
  while (next < mailboxes.size() && !engine_.stop_requested()) {
    const std::size_t index = next++;
    const std::string& mailbox = mailboxes[index];
    report.mailboxes[index] = co_await sync_mailbox(engine_, mailbox, folders);
  }
}

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
                                   {"throttled", r->throttled},
                                   {"interrupted", r->interrupted},
                                   {"duration_ms", ms.count()}});
    outcome.totals.created += r->created;
    outcome.totals.updated += r->updated;
    outcome.totals.deleted += r->deleted;
    outcome.totals.pages += r->pages;
    outcome.totals.fetched += r->fetched;
    outcome.totals.resynced |= r->resynced;
    outcome.totals.interrupted |= r->interrupted;
    if (r->interrupted) break;
  }
  co_return outcome;
}

Task<PassReport> PassRunner::run_pass(const std::vector<std::string>& mailboxes,
                                      const std::vector<model::FolderKind>& folders, int max_concurrent) {
  PassReport report;
  report.mailboxes.resize(mailboxes.size());
  for (std::size_t i = 0; i < mailboxes.size(); ++i) report.mailboxes[i].mailbox = mailboxes[i];
  const auto started = std::chrono::steady_clock::now();

  std::size_t next = 0;
  const auto workers = std::min<std::size_t>(std::max(1, max_concurrent), std::max<std::size_t>(1, mailboxes.size()));
  auto ex = co_await net::this_coro::executor;
  // Every worker belongs to this pass: the pass returns only when all of them have returned.
  using Op = decltype(net::co_spawn(ex, worker(mailboxes, folders, next, report), net::deferred));
  std::vector<Op> ops;
  ops.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i)
    ops.push_back(net::co_spawn(ex, worker(mailboxes, folders, next, report), net::deferred));
  auto group = net::experimental::make_parallel_group(std::move(ops));
  auto [order, failures] = co_await group.async_wait(net::experimental::wait_for_all(), net::use_awaitable);
  (void)order;
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);  // a bug, not an outside failure
  }

  report.interrupted = engine_.stop_requested();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  log::info("sync.pass.done", {{"mailboxes", mailboxes.size()},
                               {"failed", report.failed()},
                               {"interrupted", report.interrupted},
                               {"duration_ms", ms.count()}});
  co_return report;
}

}  // namespace exsync::sync
