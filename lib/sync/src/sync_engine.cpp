#include "exsync/sync/sync_engine.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "exsync/log/log.hpp"

namespace exsync::sync {

using model::FolderKind;

std::string_view SyncError::kind_name() const { return kind == Kind::remote ? "remote" : "store"; }

std::string_view SyncError::reason() const {
  if (kind == Kind::remote) return model::remote_error_kind_name(remote.kind);
  return store.kind == model::StoreErrorKind::foreign_item ? std::string_view("foreign_item") : std::string_view("store");
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
                       SyncOptions options, Waiter& waiter)
    : remote_(remote), store_(store), blocking_(blocking), options_(options), waiter_(waiter),
      jitter_rng_(std::random_device{}()) {}

template <typename Request>
std::invoke_result_t<Request&> SyncEngine::with_backoff(const std::string& mailbox, std::string_view operation,
                                                        FolderSyncReport& report, Request request) {
  std::chrono::milliseconds waited{0};
  for (int attempt = 0;; ++attempt) {
    auto result = co_await request();
    if (result || result.error().kind != model::RemoteErrorKind::throttled || stop_ ||
        attempt >= options_.max_throttle_retries || waited + result.error().retry_after > options_.max_inline_backoff)
      co_return result;
    // Never sooner than the server's figure; a refusal without one (ErrorExceededConnectionCount)
    // waits a moment.
    auto backoff = result.error().retry_after.count() > 0 ? result.error().retry_after : std::chrono::milliseconds(100);
    std::uniform_int_distribution<std::int64_t> jitter(0, std::min<std::int64_t>(backoff.count() / 2, 1000));
    backoff += std::chrono::milliseconds(jitter(jitter_rng_));
    waited += backoff;
    log::info("sync.throttled", {{"mailbox", mailbox},
                                 {"operation", operation},
                                 {"code", result.error().code},
                                 {"request_id", result.error().request_id},
                                 {"retry_after_ms", backoff.count()},
                                 {"attempt", attempt + 1}});
    ++report.throttled;
    // In slices, so that a stop request does not wait out a long back-off.
    for (auto left = backoff; left.count() > 0 && !stop_; left -= std::chrono::milliseconds(500))
      co_await waiter_.wait(std::min(left, std::chrono::milliseconds(500)));
  }
}

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

namespace {

// Trouble with the connection, the server's load or the credentials: try again later, and do not
// count it against the write.
// "kind (Code): the server's words", as the outbox and the messages table record a failure.
std::string failure_reason(const model::RemoteError& e) {
  return std::string(model::remote_error_kind_name(e.kind)) + (e.code.empty() ? "" : " (" + e.code + ")") + ": " +
         e.message;
}

bool blocks_mailbox(const model::RemoteError& e) {
  switch (e.kind) {
    case model::RemoteErrorKind::network:
    case model::RemoteErrorKind::unreachable:
    case model::RemoteErrorKind::tls:
    case model::RemoteErrorKind::too_large:
    case model::RemoteErrorKind::setup:
    case model::RemoteErrorKind::mismatched_answer:
    case model::RemoteErrorKind::throttled:
    case model::RemoteErrorKind::server:
    case model::RemoteErrorKind::auth:
    case model::RemoteErrorKind::unauthorized:
    case model::RemoteErrorKind::mailbox_not_found:
    case model::RemoteErrorKind::impersonation_denied:
      return true;
    default:
      return false;
  }
}

std::string_view op_name(model::WriteOp op) {
  switch (op) {
    case model::WriteOp::create: return "create";
    case model::WriteOp::update: return "update";
    case model::WriteOp::remove: return "delete";
  }
  return "?";
}

}  // namespace

Task<Result<SyncEngine::WriteAttempt, model::StoreError>> SyncEngine::write_one(const std::string& mailbox,
                                                                              FolderKind folder, model::PendingWrite& w,
                                                                              FolderSyncReport& report) {
  using Attempt = WriteAttempt;
  auto answer = [](Result<model::RemoteRef, model::RemoteError> r) { return Attempt{std::move(r), false}; };
  auto failed = [](model::RemoteError e) { return Attempt{Fail{std::move(e)}, false}; };
  switch (w.op) {
    case model::WriteOp::create: {
      // An earlier attempt may have created the item before the daemon could record it.
      if (w.attempts > 0) {
        auto found = co_await remote_.find_created(mailbox, folder, w.local_id);
        if (!found) co_return failed(std::move(found).error());
        if (*found) {
          // Adopt it, then bring it to the CRM's current version: the earlier attempt may have
          // carried an older one. Only what the CRM changed since that attempt is written, so
          // that what the mailbox changed in the meantime stays.
          log::info("sync.write.adopted", {{"mailbox", mailbox}, {"id", w.local_id}});
          auto current = co_await fetch_one(mailbox, folder, (*found)->id);
          if (!current) co_return failed(std::move(current).error());
          if (!*current) co_return answer(**found);
          const auto& from = w.attempted ? *w.attempted : (*current)->payload;
          auto updated = co_await remote_.update(mailbox, (*current)->ref, from, w.item, false, w.notify);
          if (!updated) co_return answer(std::move(updated));
          // The mailbox now holds its own changes and the CRM's together: the store takes that
          // version, read back (else it would keep the CRM's alone at the mailbox's change key).
          auto merged = co_await fetch_one(mailbox, folder, updated->id);
          if (!merged || !*merged) co_return answer((*current)->ref);  // read again by the next pull
          co_return Attempt{(*merged)->ref, false, std::move((*merged)->payload)};
        }
      }
      co_return answer(co_await remote_.create(mailbox, folder, w.item, w.local_id, w.notify));
    }
    case model::WriteOp::remove: {
      model::RemoteRef target = w.ref;
      if (target.id.empty()) {  // a create of uncertain outcome, deleted by the CRM since
        auto found = co_await remote_.find_created(mailbox, folder, w.local_id);
        if (!found) co_return failed(std::move(found).error());
        if (!*found) co_return answer(target);
        target = **found;
      }
      auto removed = co_await remote_.remove(mailbox, folder, target, w.notify);
      if (!removed && removed.error().kind != model::RemoteErrorKind::item_not_found)
        co_return failed(std::move(removed).error());
      co_return answer(target);
    }
    case model::WriteOp::update: {
      auto updated = co_await remote_.update(mailbox, w.ref, w.base, w.item, false, w.notify);
      if (updated || (updated.error().kind != model::RemoteErrorKind::conflict &&
                      updated.error().kind != model::RemoteErrorKind::item_not_found))
        co_return answer(std::move(updated));
      // Both sides changed it, or the mailbox deleted what the CRM modified.
      auto current = co_await fetch_one(mailbox, folder, w.ref.id);
      if (!current) co_return failed(std::move(current).error());
      if (!*current) {
        auto restored = co_await run_blocking(blocking_, [&] { return store_.restore_as_create(w); });
        if (!restored) co_return Fail{std::move(restored).error()};
        if (*restored) {
          const std::string_view why = "deleted in the mailbox, modified in the CRM: the modification wins";
          log::warn("sync.write.restored", {{"mailbox", mailbox}, {"id", w.local_id}, {"reason", why}});
        }
        co_return Attempt{w.ref, true};
      }
      const bool local_wins = options_.conflict == ConflictPolicy::local_wins;
      const auto& remote = **current;
      auto resolved = co_await run_blocking(blocking_, [&] {
        return store_.resolve_conflict(mailbox, folder, w, remote, local_wins);
      });
      if (!resolved) co_return Fail{std::move(resolved).error()};
      if (!*resolved) co_return Attempt{w.ref, true};  // the CRM changed it meanwhile: next pass
      ++report.conflicts;
      const std::string_view winner = local_wins ? "local" : "remote";
      log::warn("sync.conflict", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)}, {"id", w.local_id},
                                  {"ews_id", remote.ref.id}, {"winner", winner}});
      if (!local_wins) co_return Attempt{remote.ref, true};
      co_return answer(co_await remote_.update(mailbox, remote.ref, remote.payload, w.item, false, w.notify));
    }
  }
  co_return failed(model::RemoteError{model::RemoteErrorKind::protocol, "unknown write", "", {}});
}

Task<Result<Unit, SyncError>> SyncEngine::push_writes(const std::string& mailbox, FolderKind folder,
                                                      std::vector<model::PendingWrite> writes, FolderSyncReport& report) {
  // A contact's first attempt needs no lookup (nothing of it can be in the mailbox yet): such
  // writes in a row go together, as many to a request as the protocol takes.
  const auto batchable = [](const model::PendingWrite& w) {
    return w.op == model::WriteOp::create && w.attempts == 0 && !w.notify && std::holds_alternative<model::Contact>(w.item);
  };
  const std::size_t batch = folder == FolderKind::contacts ? std::max<std::size_t>(1, remote_.create_limit()) : 1;
  for (std::size_t at = 0; at < writes.size();) {
    if (stop_) break;
    std::size_t end = at;
    while (end < writes.size() && end - at < batch && batchable(writes[end])) ++end;
    if (end - at > 1) {
      const std::span<model::PendingWrite> run(writes.data() + at, end - at);
      if (auto pushed = co_await push_creates(mailbox, folder, run, report); !pushed) co_return pushed;
      at = end;
      continue;
    }
    if (auto pushed = co_await push_one(mailbox, folder, writes[at++], report); !pushed) co_return pushed;
  }
  co_return Unit{};
}

Task<Result<Unit, SyncError>> SyncEngine::push_one(const std::string& mailbox, FolderKind folder,
                                                   model::PendingWrite& w, FolderSyncReport& report) {
  auto begun = co_await run_blocking(blocking_, [&] {
    return store_.record_attempts(std::span<const model::PendingWrite>(&w, 1));
  });
  if (!begun) co_return store_failure(std::move(begun).error());
  if (!begun->begun.front()) co_return Unit{};  // the CRM changed or removed it since it was read: the next pass
  // On disk before it is sent, with what other mailboxes recorded meanwhile.
  auto durable = co_await run_blocking(blocking_, [&] { return store_.make_durable(begun->ticket); });
  if (!durable) co_return store_failure(std::move(durable).error());
  auto attempt = co_await write_one(mailbox, folder, w, report);
  if (!attempt) co_return store_failure(std::move(attempt).error());
  if (attempt->settled) co_return Unit{};
  auto& written = attempt->written;
  if (!written) {
    const auto& e = written.error();
    if (blocks_mailbox(e)) co_return remote_failure(std::move(written).error());
    const bool park = w.attempts + 1 >= options_.max_write_attempts;
    const std::string reason = failure_reason(e);
    auto failed = co_await run_blocking(blocking_, [&] { return store_.fail_write(w, reason, park); });
    if (!failed) co_return store_failure(std::move(failed).error());
    ++report.write_failures;
    log::warn("sync.write.failed", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)},
                                    {"op", op_name(w.op)}, {"id", w.local_id}, {"parked", park},
                                    {"request_id", e.request_id}, {"reason", reason}});
    co_return Unit{};
  }
  auto done = co_await run_blocking(blocking_, [&] {
    return store_.complete_write(w, *written, attempt->mailbox_version ? &*attempt->mailbox_version : nullptr);
  });
  if (!done) co_return store_failure(std::move(done).error());
  ++report.written;
  co_return Unit{};
}

Task<Result<Unit, SyncError>> SyncEngine::push_creates(const std::string& mailbox, FolderKind folder,
                                                       std::span<model::PendingWrite> writes, FolderSyncReport& report) {
  auto begun = co_await run_blocking(blocking_, [&] {
    return store_.record_attempts(std::span<const model::PendingWrite>(writes.data(), writes.size()));
  });
  if (!begun) co_return store_failure(std::move(begun).error());
  std::vector<model::PendingWrite*> going;
  std::vector<model::RemoteMailboxService::NewItem> items;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    if (!begun->begun[i]) continue;  // the CRM changed or removed it since it was read: the next pass
    going.push_back(&writes[i]);
    items.push_back({writes[i].item, writes[i].local_id});
  }
  if (items.empty()) co_return Unit{};
  // On disk before any is sent, with what other mailboxes recorded meanwhile (one flush for all).
  auto durable = co_await run_blocking(blocking_, [&] { return store_.make_durable(begun->ticket); });
  if (!durable) co_return store_failure(std::move(durable).error());
  auto outcomes = co_await remote_.create_many(mailbox, folder, items);
  if (!outcomes && !blocks_mailbox(outcomes.error())) {
    // The request was refused whole (one bad item spoils a CreateItem, say): each is tried on
    // its own, as an attempt that may have created it, so that the good ones get through and
    // none is created twice.
    for (auto* w : going) {
      ++w->attempts;
      if (!w->attempted) w->attempted = w->item;
      if (auto pushed = co_await push_one(mailbox, folder, *w, report); !pushed) co_return pushed;
    }
    co_return Unit{};
  }
  if (outcomes && outcomes->size() != going.size())
    outcomes = Fail{model::RemoteError{model::RemoteErrorKind::mismatched_answer,
                                       "a create of " + std::to_string(going.size()) + " items answered for " +
                                           std::to_string(outcomes->size()),
                                       "", {}}};
  // Each write's outcome: created, refused on its own, or (the whole request failed) unknown.
  std::vector<model::LocalStore::CompletedWrite> done;
  std::vector<std::pair<model::PendingWrite*, model::RemoteError>> failed;
  std::optional<model::RemoteError> blocking;
  for (std::size_t i = 0; i < going.size(); ++i) {
    auto outcome = outcomes ? std::move((*outcomes)[i]) : Result<model::RemoteRef, model::RemoteError>(Fail{outcomes.error()});
    if (outcome) {
      done.push_back({going[i], std::move(*outcome), nullptr});
    } else if (blocks_mailbox(outcome.error())) {
      if (!blocking) blocking = std::move(outcome).error();  // counted as attempted: found by its tag next time
    } else {
      failed.emplace_back(going[i], std::move(outcome).error());
    }
  }
  if (!done.empty()) {
    auto recorded = co_await run_blocking(blocking_, [&] { return store_.complete_writes(done); });
    if (!recorded) co_return store_failure(std::move(recorded).error());
    report.written += static_cast<int>(done.size());
  }
  for (auto& [w, e] : failed) {
    const bool park = w->attempts + 1 >= options_.max_write_attempts;
    const std::string reason = failure_reason(e);
    auto noted = co_await run_blocking(blocking_, [&] { return store_.fail_write(*w, reason, park); });
    if (!noted) co_return store_failure(std::move(noted).error());
    ++report.write_failures;
    log::warn("sync.write.failed", {{"mailbox", mailbox}, {"folder", model::folder_name(folder)}, {"op", "create"},
                                    {"id", w->local_id}, {"parked", park}, {"request_id", e.request_id},
                                    {"reason", reason}});
  }
  if (blocking) co_return remote_failure(std::move(*blocking));
  co_return Unit{};
}

namespace {

// A refusal that is about the mailbox or the connection rather than the message: sending the
// next one would fail the same way.
bool blocks_sending(const model::RemoteError& e) {
  switch (e.kind) {
    case model::RemoteErrorKind::throttled:
    case model::RemoteErrorKind::auth:
    case model::RemoteErrorKind::unauthorized:
    case model::RemoteErrorKind::mailbox_not_found:
    case model::RemoteErrorKind::impersonation_denied:
      return true;
    default:
      return false;
  }
}

}  // namespace

Task<Result<Unit, SyncError>> SyncEngine::settle_id_space(const std::string& mailbox) {
  {
    std::lock_guard lock(settled_mu_);
    if (settled_.contains(mailbox)) co_return Unit{};
  }
  const auto space = remote_.id_space();
  auto held = co_await run_blocking(blocking_, [&] { return store_.id_space(mailbox); });
  if (!held) co_return store_failure(std::move(held).error());
  if (*held != space) {
    // The tenant changed backends: the stored ids are the old backend's names for the items.
    std::map<std::string, std::string> renamed;
    std::size_t asked = 0;
    if (!held->empty()) {
      auto ids = co_await run_blocking(blocking_, [&] { return store_.remote_ids(mailbox); });
      if (!ids) co_return store_failure(std::move(ids).error());
      asked = ids->size();
      if (!ids->empty()) {
        FolderSyncReport ignored;
        auto translated = co_await with_backoff(mailbox, "translate_ids", ignored,
                                                [&] { return remote_.translate_ids(mailbox, *held, *ids); });
        if (!translated) co_return remote_failure(std::move(translated).error());
        renamed = std::move(*translated);
      }
    }
    auto adopted = co_await run_blocking(blocking_, [&] { return store_.adopt_id_space(mailbox, space, renamed); });
    if (!adopted) co_return store_failure(std::move(adopted).error());
    if (!held->empty())
      log::info("sync.ids.translated", {{"mailbox", mailbox},
                                        {"from", *held},
                                        {"to", space},
                                        {"ids", static_cast<std::int64_t>(asked)},
                                        {"translated", static_cast<std::int64_t>(renamed.size())},
                                        {"untranslated", static_cast<std::int64_t>(asked - renamed.size())}});
  }
  std::lock_guard lock(settled_mu_);
  settled_.insert(mailbox);
  co_return Unit{};
}

Task<Result<Unit, SyncError>> SyncEngine::settle() {
  auto settled = co_await run_blocking(blocking_, [&] { return store_.settle(); });
  if (!settled) co_return store_failure(std::move(settled).error());
  co_return Unit{};
}

Task<Result<int, SyncError>> SyncEngine::send_messages(const std::string& mailbox) {
  if (auto settled = co_await settle_id_space(mailbox); !settled) co_return Fail{std::move(settled).error()};
  // A backend that cannot send leaves the queue as it is (the API accepts no new messages for
  // it): nothing queued is lost, and it goes out once the tenant's backend can send.
  if (!remote_.capabilities().send_mail) co_return 0;
  auto queued = co_await run_blocking(blocking_, [&] { return store_.queued_messages(mailbox); });
  if (!queued) co_return store_failure(std::move(queued).error());
  int sent = 0;
  for (const auto& [message, attempts, uncertain] : *queued) {
    if (stop_) break;
    if (uncertain) {
      // The last attempt may have gone out (a crash, a lost answer): look before sending. Only
      // then: after a refusal the server stated, a copy it kept in Sent Items went to nobody.
      auto found = co_await remote_.find_sent(mailbox, message.local_id);
      if (!found) co_return remote_failure(std::move(found).error());
      if (*found) {
        auto done = co_await run_blocking(blocking_, [&] { return store_.finish_send(message.local_id, true, "", true); });
        if (!done) co_return store_failure(std::move(done).error());
        log::info("message.sent", {{"mailbox", mailbox}, {"id", message.local_id}, {"found_in_sent_items", true}});
        ++sent;
        continue;
      }
    }
    auto begun = co_await run_blocking(blocking_, [&] { return store_.begin_send(message.local_id); });
    if (!begun) co_return store_failure(std::move(begun).error());
    auto r = co_await remote_.send(mailbox, message);
    if (r) {
      auto done = co_await run_blocking(blocking_, [&] { return store_.finish_send(message.local_id, true, "", true); });
      if (!done) co_return store_failure(std::move(done).error());
      log::info("message.sent", {{"mailbox", mailbox}, {"id", message.local_id}, {"found_in_sent_items", false}});
      ++sent;
      continue;
    }
    const auto& e = r.error();
    // Outcome unknown: the message stays "sending", so that the next pass searches Sent Items
    // before it sends again; the mailbox is tried again later, like any lost connection.
    if (!e.answered) co_return remote_failure(std::move(r).error());
    // Refused by the server: nothing went out. Trouble with the mailbox or the server's load
    // holds up every message; a refusal of this one message fails only it (after the third, for
    // good) and leaves the mailbox's contacts and calendar to sync.
    const bool blocked = blocks_sending(e);
    const bool final = !blocked && attempts + 1 >= options_.max_write_attempts;
    const std::string reason = failure_reason(e);
    auto done = co_await run_blocking(blocking_, [&] { return store_.finish_send(message.local_id, false, reason, final); });
    if (!done) co_return store_failure(std::move(done).error());
    if (blocked) co_return remote_failure(std::move(r).error());
    log::warn("message.failed", {{"mailbox", mailbox},
                                 {"id", message.local_id},
                                 {"final", final},
                                 {"request_id", e.request_id},
                                 {"reason", reason}});
  }
  co_return sent;
}

// An initial sync begins: the folder's size in Exchange, for its progress. The request is
// throttled and fails like any other; an answer that only says no size is known is no failure.
Task<Result<Unit, SyncError>> SyncEngine::note_initial_size(const std::string& mailbox, FolderKind folder,
                                                           FolderSyncReport& report) {
  auto total = co_await with_backoff(mailbox, "count", report, [&] { return remote_.count(mailbox, folder); });
  if (!total) {
    if (blocks_mailbox(total.error())) co_return remote_failure(std::move(total).error());
    co_return Unit{};
  }
  auto noted = co_await run_blocking(blocking_, [&] { return store_.begin_initial_sync(mailbox, folder, *total); });
  if (!noted) co_return store_failure(std::move(noted).error());
  co_return Unit{};
}

Task<Result<std::optional<model::RemoteItem>, model::RemoteError>> SyncEngine::fetch_one(const std::string& mailbox,
                                                                                         FolderKind folder,
                                                                                         const std::string& id) {
  const std::vector<std::string> ids{id};
  auto got = co_await remote_.fetch(mailbox, folder, ids);
  if (!got) co_return Fail{std::move(got).error()};
  if (!got->refused.empty()) {
    const auto& r = got->refused.front();
    co_return Fail{model::RemoteError{model::RemoteErrorKind::item_refused,
                                      "the mailbox would not hand the item over: " + r.message, r.code, {}, false, true}};
  }
  if (!got->unanswered.empty())
    co_return Fail{model::RemoteError{model::RemoteErrorKind::server, "the mailbox stopped before the item",
                                      "ErrorBatchProcessingStopped", {}, false, true}};
  if (got->items.empty()) co_return std::optional<model::RemoteItem>{};
  co_return std::optional<model::RemoteItem>{std::move(got->items.front())};
}

Task<Result<Unit, SyncError>> SyncEngine::fetch_into(const std::string& mailbox, FolderKind folder,
                                                     std::vector<std::string> ids, model::PageCommit& commit,
                                                     FolderSyncReport& report) {
  // One request at a time, each retried on its own: under a tight rate budget a page's
  // requests rarely all pass in a row, and retrying the page whole would never end. Items the
  // server stopped before (ErrorBatchProcessingStopped) are asked again, three rounds at most.
  const std::size_t limit = std::max<std::size_t>(1, remote_.fetch_limit());
  constexpr int kRounds = 3;
  commit.upserts.reserve(commit.upserts.size() + ids.size());
  for (int round = 1; !ids.empty(); ++round) {
    std::vector<std::string> again;
    for (std::size_t at = 0; at < ids.size(); at += limit) {
      const std::vector<std::string> slice(ids.begin() + static_cast<std::ptrdiff_t>(at),
                                           ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + limit)));
      auto got = co_await with_backoff(mailbox, "fetch", report, [&] { return remote_.fetch(mailbox, folder, slice); });
      if (!got) co_return remote_failure(std::move(got).error());
      report.fetched += static_cast<int>(got->items.size());
      for (auto& item : got->items) commit.upserts.push_back(std::move(item));
      for (auto& refused : got->refused) commit.quarantined.push_back(std::move(refused));
      for (auto& id : got->unanswered) again.push_back(std::move(id));
    }
    if (round == kRounds) {
      for (auto& id : again)
        commit.quarantined.push_back({std::move(id), "ErrorBatchProcessingStopped",
                                      "the server stopped before this item " + std::to_string(kRounds) + " times"});
      break;
    }
    ids = std::move(again);
  }
  co_return Unit{};
}

Task<Result<FolderSyncReport, SyncError>> SyncEngine::sync_folder_pages(const std::string& mailbox, FolderKind folder) {
  FolderSyncReport report;
  if (auto settled = co_await settle_id_space(mailbox); !settled) co_return Fail{std::move(settled).error()};
  // The CRM's waiting writes, the cursor and the quarantined items due for another try (they go
  // with the first page), in one read.
  auto start = co_await run_blocking(blocking_, [&] {
    return store_.folder_start(mailbox, folder, options_.quarantine_retry);
  });
  if (!start) co_return store_failure(std::move(start).error());
  if (auto pushed = co_await push_writes(mailbox, folder, std::move(start->writes), report); !pushed)
    co_return Fail{std::move(pushed).error()};
  std::vector<std::string> retry = std::move(start->quarantine_due);
  std::string state = start->cursor.cursor;
  if (state.empty()) {
    if (auto noted = co_await note_initial_size(mailbox, folder, report); !noted) co_return Fail{std::move(noted).error()};
  }

  for (;;) {
    if (stop_) {
      report.interrupted = true;
      co_return report;
    }
    auto page = co_await with_backoff(mailbox, "changes", report, [&] {
      return remote_.changes(mailbox, folder, state, options_.max_changes_per_page);
    });
    if (!page) {
      // Exchange forgets sync states (ErrorInvalidSyncStateData); start over once, re-matching
      // stored rows by remote id so that nothing is duplicated.
      if (page.error().kind == model::RemoteErrorKind::invalid_sync_state && !state.empty() && !report.resynced) {
        log::warn("sync.folder.resync", {{"mailbox", mailbox},
                                         {"folder", model::folder_name(folder)},
                                         {"code", page.error().code},
                                         {"request_id", page.error().request_id},
                                         {"reason", page.error().message}});
        auto begun = co_await run_blocking(blocking_, [&] { return store_.begin_resync(mailbox, folder); });
        if (!begun) co_return store_failure(std::move(begun).error());
        state.clear();
        report.resynced = true;
        if (auto noted = co_await note_initial_size(mailbox, folder, report); !noted)
          co_return Fail{std::move(noted).error()};
        continue;
      }
      co_return remote_failure(std::move(page).error());
    }

    model::PageCommit commit;
    commit.next_cursor = page->next_cursor;
    commit.completes_sync = page->last_page;
    // A feed may name an item more than once in a page (Graph's delta replays changes): its
    // last mention is its state.
    std::vector<model::RemoteRef> candidates;
    std::map<std::string, model::RemoteChange*> latest;
    for (auto& change : page->changes) {
      if (change.kind == model::ChangeKind::deleted) {
        commit.deletions.push_back(change.ref.id);
        continue;
      }
      auto [it, first] = latest.try_emplace(change.ref.id, &change);
      if (first) candidates.push_back(change.ref);
      else it->second = &change;
    }
    for (auto& ref : candidates) ref = latest.at(ref.id)->ref;
    if (page->present) {
      auto stored = co_await run_blocking(blocking_, [&] { return store_.folder_ids(mailbox, folder); });
      if (!stored) co_return store_failure(std::move(stored).error());
      const std::set<std::string> present(page->present->begin(), page->present->end());
      for (auto& id : *stored)
        if (!present.contains(id) && !latest.contains(id) &&
            std::find(commit.deletions.begin(), commit.deletions.end(), id) == commit.deletions.end())
          commit.deletions.push_back(std::move(id));
    }

    // Items we already hold at the reported change key need no download (a resync, or an
    // update we have seen on an earlier, uncommitted attempt); those the feed carried need none
    // either.
    std::vector<std::string> to_fetch;
    if (!candidates.empty()) {
      auto same = co_await run_blocking(blocking_, [&] { return store_.unchanged(mailbox, folder, candidates); });
      if (!same) co_return store_failure(std::move(same).error());
      for (const auto& ref : candidates) {
        if (same->contains(ref.id)) {
          commit.unchanged.push_back(ref.id);
        } else if (auto& content = latest.at(ref.id)->content) {
          commit.upserts.push_back({ref, std::move(*content)});
        } else {
          to_fetch.push_back(ref.id);
        }
      }
    }
    std::set<std::string> retried;
    for (auto& id : retry) {
      if (std::find(to_fetch.begin(), to_fetch.end(), id) == to_fetch.end() &&
          std::find(commit.deletions.begin(), commit.deletions.end(), id) == commit.deletions.end()) {
        to_fetch.push_back(id);
        retried.insert(std::move(id));
      }
    }
    retry.clear();
    if (auto fetched = co_await fetch_into(mailbox, folder, std::move(to_fetch), commit, report); !fetched)
      co_return Fail{std::move(fetched).error()};
    // A quarantined item asked again that is neither back nor refused is gone.
    for (const auto& item : commit.upserts) retried.erase(item.ref.id);
    for (const auto& refused : commit.quarantined) retried.erase(refused.id);
    commit.released.assign(retried.begin(), retried.end());

    // Not too many deletions at once: the store holds a mass deletion for an operator.
    commit.max_delete_share = options_.max_delete_share;
    auto outcome = co_await run_blocking(blocking_, [&] { return store_.commit_page(mailbox, folder, commit); });
    if (!outcome) co_return store_failure(std::move(outcome).error());
    report.created += outcome->created;
    report.updated += outcome->updated;
    report.deleted += outcome->deleted;
    report.deletions_held = outcome->deletions_held;
    report.quarantined += outcome->quarantined;
    for (const auto& refused : commit.quarantined)
      log::warn("sync.item.quarantined", {{"mailbox", mailbox},
                                          {"folder", model::folder_name(folder)},
                                          {"ews_id", refused.id},
                                          {"code", refused.code},
                                          {"reason", refused.message}});
    if (outcome->deletions_held > 0)
      log::warn("sync.deletions.held", {{"mailbox", mailbox},
                                        {"folder", model::folder_name(folder)},
                                        {"deletions", outcome->deletions_held},
                                        {"items", outcome->burst_base},
                                        {"max_share", options_.max_delete_share}});
    ++report.pages;
    state = page->next_cursor;
    if (page->last_page) co_return report;
  }
}

}  // namespace exsync::sync
