#include "exsync/model/ports.hpp"

namespace exsync::model {

Task<Result<RemoteMailboxService::CreateOutcomes, RemoteError>> RemoteMailboxService::create_many(
    const std::string& mailbox, FolderKind folder, const std::vector<NewItem>& items) {
  CreateOutcomes out;
  for (const auto& item : items) out.push_back(co_await create(mailbox, folder, item.item, item.local_id, false));
  co_return out;
}

}  // namespace exsync::model
