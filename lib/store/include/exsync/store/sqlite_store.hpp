// SqliteStore: the local store, one SQLite file holding every mailbox's items and sync cursors.
//
// Crash safety: each page of remote changes and the cursor after it are written in one
// transaction (WAL journal, synchronous=FULL), so a crash or SIGKILL at any point resumes from
// the last committed page and never loses or duplicates an item.
//
// Thread-safety: every method may be called from any thread; calls are serialised by an internal
// mutex (SQLite allows one writer anyway). Other processes (`exsyncd items`, the CRM) may read the
// file while the daemon writes it; writers wait up to the busy timeout.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "exsync/model/ports.hpp"

namespace exsync::store {

// One stored item as the CRM sees it.
struct StoredItem {
  std::string local_id;  // stable for the item's life in the store
  model::RemoteRef remote;
  std::string payload_json;  // the item's fields (contact JSON without identity)
};

class SqliteStore final : public model::LocalStore {
 public:
  // Opens or creates the store and brings its schema up to date. Errors: io when the file cannot
  // be opened or created, corrupt when it is not a database or fails its schema check.
  static Result<std::unique_ptr<SqliteStore>, model::StoreError> open(const std::filesystem::path& path);
  ~SqliteStore() override;

  Result<model::FolderCursor, model::StoreError> cursor(const std::string& mailbox,
                                                        model::FolderKind folder) override;
  Result<Unit, model::StoreError> begin_resync(const std::string& mailbox, model::FolderKind folder) override;
  Result<std::set<std::string>, model::StoreError> unchanged(
      const std::string& mailbox, model::FolderKind folder, const std::vector<model::RemoteRef>& refs) override;
  Result<model::PageOutcome, model::StoreError> commit_page(const std::string& mailbox,
                                                            model::FolderKind folder,
                                                            const model::PageCommit& page) override;

  // The folder's items, ordered by local id.
  Result<std::vector<StoredItem>, model::StoreError> items(const std::string& mailbox, model::FolderKind folder);

  // The schema version this build writes; stored in PRAGMA user_version.
  static constexpr int kSchemaVersion = 1;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace exsync::store
