// The kinds of mailbox folder exsync keeps in sync.
#pragma once

#include <optional>
#include <string_view>

namespace exsync::model {

enum class FolderKind { contacts, calendar };

// "contacts": the name used in configuration, the store and the log.
std::string_view folder_name(FolderKind kind);
std::optional<FolderKind> parse_folder(std::string_view name);

}  // namespace exsync::model
