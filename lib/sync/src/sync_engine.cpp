#include "exsync/sync/sync_engine.hpp"

#include "exsync/log/log.hpp"

namespace exsync::sync {

using model::FolderKind;

std::string_view SyncError::kind_name() const { return kind == Kind::remote ? "remote" : "store"; }

std::string_view SyncError::reason() const {
  return kind == Kind::remote ? model::remote_error_kind_name(remote.kind) : std::string_view("store");
}

const std::string& SyncError::message() const { return kind == Kind::remote ? remote.message : store.message; }

namespace {

Fail<SyncError> remote_failure(model::RemoteError e) {
  SyncError s{SyncError::Kind::remote};
  s.remote = std::move(e);
  return Fail{std::move(s)};
}

Fail<SyncError> store_failure(model::StoreError e) {
  SyncError s{SyncError::Kind::store};
  s.store = std::move(e);
  return Fail{std::move(s)};
}

}  // namespace

SyncEngine::SyncEngine(model::RemoteMailboxService& remote, model::LocalStore& store, net::thread_pool& blocking,
                       SyncOptions options)
    : remote_(remote), store_(store), blocking_(blocking), options_(options) {}

Task<Result<FolderSyncReport, SyncError>> SyncEngine::sync_folder(const std::string& mailbox, FolderKind folder) {
  auto result = co_await sync_folder_pages(mailbox, folder);
  if (!result) {
    // Operators and the CRM see why the folder is behind; the next committed page clears it.
    const auto& e = result.error();
    std::string reason = std::string(e.reason());
    if (e.kind == SyncError::Kind::remote && !e.remote.code.empty()) reason += " (" + e.remote.code + ")";
    reason += ": " + e.message();
    auto recorded = co_await run_blocking(blocking_, [&] { return store_.record_failure(mailbox, folder, reason); });
    if (!recorded)
      log::warn("store.status.failed", {{"mailbox", mailbox}, {"message", recorded.error().message}});
  }
  co_return result;
}

Task<Result<FolderSyncReport, SyncError>> SyncEngine::sync_folder_pages(const std::string& mailbox, FolderKind folder) {
  FolderSyncReport report;
  auto cursor = co_await run_blocking(blocking_, [&] { return store_.cursor(mailbox, folder); });
  if (!cursor) co_return store_failure(std::move(cursor).error());
  std::string state = cursor->cursor;

  for (;;) {
    if (stop_) {
      report.interrupted = true;
      co_return report;
    }
    auto page = co_await remote_.changes(mailbox, folder, state, options_.max_changes_per_page);
    if (!page) {
      // Exchange forgets sync states (ErrorInvalidSyncStateData); start over once, re-matching
      // stored rows by remote id so that nothing is duplicated.
      if (page.error().kind == model::RemoteErrorKind::invalid_sync_state && !state.empty() && !report.resynced) {
        log::warn("sync.folder.resync", {{"mailbox", mailbox},
                                         {"folder", model::folder_name(folder)},
                                         {"code", page.error().code},
                                         {"reason", page.error().message}});
        auto begun = co_await run_blocking(blocking_, [&] { return store_.begin_resync(mailbox, folder); });
        if (!begun) co_return store_failure(std::move(begun).error());
        state.clear();
        report.resynced = true;
        continue;
      }
      co_return remote_failure(std::move(page).error());
    }

    model::PageCommit commit;
    commit.next_cursor = page->next_cursor;
    commit.completes_sync = page->last_page;
    std::vector<model::RemoteRef> candidates;
    for (const auto& change : page->changes) {
      if (change.kind == model::ChangeKind::deleted) commit.deletions.push_back(change.ref.id);
      else candidates.push_back(change.ref);
    }

    // Items we already hold at the reported change key need no download (a resync, or an
    // update we have seen on an earlier, uncommitted attempt).
    std::vector<std::string> to_fetch;
    if (!candidates.empty()) {
      auto same = co_await run_blocking(blocking_, [&] { return store_.unchanged(mailbox, folder, candidates); });
      if (!same) co_return store_failure(std::move(same).error());
      for (const auto& ref : candidates) {
        if (same->contains(ref.id)) commit.unchanged.push_back(ref.id);
        else to_fetch.push_back(ref.id);
      }
    }
    if (!to_fetch.empty()) {
      auto items = co_await remote_.fetch(mailbox, folder, to_fetch);
      if (!items) co_return remote_failure(std::move(items).error());
      report.fetched += static_cast<int>(items->size());
      commit.upserts = std::move(*items);
    }

    auto outcome = co_await run_blocking(blocking_, [&] { return store_.commit_page(mailbox, folder, commit); });
    if (!outcome) co_return store_failure(std::move(outcome).error());
    report.created += outcome->created;
    report.updated += outcome->updated;
    report.deleted += outcome->deleted;
    ++report.pages;
    state = page->next_cursor;
    if (page->last_page) co_return report;
  }
}

}  // namespace exsync::sync
