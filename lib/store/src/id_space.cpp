// Which backend's ids a mailbox's rows hold, and moving them to another backend's (a tenant
// switched from EWS to Graph): every table that names a remote id is renamed in one transaction.
#include "store_impl.hpp"

namespace exsync::store {

namespace {

// The tables that name remote ids. Placeholders of items the CRM created ('local:...') are in no
// rename list, so no rename touches them.
constexpr const char* kTablesWithRemoteIds[] = {"items", "outbox", "quarantine", "changes", "conflicts"};

}  // namespace

Result<std::string, StoreError> SqliteStore::id_space(const std::string& mailbox) {
  auto lock = impl_->enter_behind();
  auto st = impl_->cached("SELECT coalesce(id_space, '') FROM mailboxes WHERE address = ?1");
  st.bind(1, mailbox);
  auto found = impl_->first(st, "read id space", [](auto& st) { return st.text(0); });
  if (!found) return Fail{found.error()};
  return found->value_or(std::string());
}

Result<std::vector<std::string>, StoreError> SqliteStore::remote_ids(const std::string& mailbox) {
  auto lock = impl_->enter();
  auto st = impl_->cached(
      "SELECT remote_id FROM items WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1) "
      "AND remote_id NOT LIKE 'local:%' "
      "UNION SELECT remote_id FROM outbox WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1) "
      "AND remote_id IS NOT NULL AND remote_id <> '' AND remote_id NOT LIKE 'local:%' "
      "UNION SELECT remote_id FROM quarantine WHERE mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)");
  st.bind(1, mailbox);
  return impl_->all(st, "list remote ids", [](auto& st) { return st.text(0); });
}

Result<std::vector<std::string>, StoreError> SqliteStore::folder_ids(const std::string& mailbox,
                                                                    model::FolderKind folder) {
  auto lock = impl_->enter_behind();
  auto st = impl_->cached(
      "SELECT i.remote_id FROM items i JOIN mailboxes m ON m.id = i.mailbox_id "
      "WHERE m.address = ?1 AND i.folder = ?2 AND i.remote_id NOT LIKE 'local:%'");
  st.bind(1, mailbox).bind(2, model::folder_name(folder));
  return impl_->all(st, "list folder ids", [](auto& st) { return st.text(0); });
}

Result<Unit, StoreError> SqliteStore::adopt_id_space(const std::string& mailbox, const std::string& space,
                                                     const std::map<std::string, std::string>& renamed) {
  // Behind, in one savepoint: should a crash take it back, it takes back everything stored after
  // it too, and the mailbox's ids are the old backend's again, with the old space recorded: the
  // next pass translates and adopts them again.
  auto lock = impl_->enter_behind();
  return impl_->behind<Unit>("adopt id space", [&]() -> Result<Unit, StoreError> {
    auto mid = impl_->mailbox_id(mailbox, true);
    if (!mid) return Fail{mid.error()};
    if (!renamed.empty()) {
      if (auto made = impl_->exec("CREATE TEMP TABLE IF NOT EXISTS id_renames (old TEXT PRIMARY KEY, new TEXT NOT NULL)",
                                  "prepare id renames");
          !made)
        return made;
      if (auto cleared = impl_->exec("DELETE FROM temp.id_renames", "prepare id renames"); !cleared) return cleared;
      auto add = impl_->cached("INSERT INTO temp.id_renames(old, new) VALUES (?1, ?2)");
      for (const auto& [old_id, new_id] : renamed) {
        add.reset();
        add.bind(1, old_id).bind(2, new_id);
        if (auto r = impl_->run(add, "record id rename"); !r) return r;
      }
      // One pass over each table, whatever the number of ids.
      for (const char* table : kTablesWithRemoteIds) {
        auto rename = impl_->cached(std::string("UPDATE ") + table +
                                    " SET remote_id = (SELECT new FROM temp.id_renames WHERE old = remote_id) "
                                    "WHERE mailbox_id = ?1 AND remote_id IN (SELECT old FROM temp.id_renames)");
        rename.bind(1, *mid);
        if (auto r = impl_->run(rename, std::string("rename remote ids in ") + table); !r) return r;
      }
    }
    auto unseen = impl_->cached("UPDATE items SET seen = 0 WHERE mailbox_id = ?1 AND remote_id NOT LIKE 'local:%'");
    unseen.bind(1, *mid);
    if (auto r = impl_->run(unseen, "begin resync"); !r) return r;
    auto resync = impl_->cached("UPDATE folder_state SET cursor = '', resyncing = 1 WHERE mailbox_id = ?1");
    resync.bind(1, *mid);
    if (auto r = impl_->run(resync, "begin resync"); !r) return r;
    auto mark = impl_->cached("UPDATE mailboxes SET id_space = ?2 WHERE id = ?1");
    mark.bind(1, *mid).bind(2, space);
    return impl_->run(mark, "record id space");
  });
}

}  // namespace exsync::store
