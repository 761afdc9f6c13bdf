#include "exsync/model/folder.hpp"

namespace exsync::model {

std::string_view folder_name(FolderKind kind) {
  switch (kind) {
    case FolderKind::contacts: return "contacts";
  }
  return "unknown";
}

std::optional<FolderKind> parse_folder(std::string_view name) {
  if (name == "contacts") return FolderKind::contacts;
  return std::nullopt;
}

}  // namespace exsync::model
