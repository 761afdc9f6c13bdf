#include "exsync/model/folder.hpp"

namespace exsync::model {

std::string_view folder_name(FolderKind kind) {
  switch (kind) {
    case FolderKind::contacts: return "contacts";
    case FolderKind::calendar: return "calendar";
  }
  return "unknown";
}

std::optional<FolderKind> parse_folder(std::string_view name) {
  if (name == "contacts") return FolderKind::contacts;
  if (name == "calendar") return FolderKind::calendar;
  return std::nullopt;
}

}  // namespace exsync::model
