#include "exsync/model/remote_error.hpp"

namespace exsync::model {

std::string_view remote_error_kind_name(RemoteErrorKind kind) {
  switch (kind) {
    case RemoteErrorKind::network: return "network";
    case RemoteErrorKind::unreachable: return "unreachable";
    case RemoteErrorKind::tls: return "tls";
    case RemoteErrorKind::too_large: return "too_large";
    case RemoteErrorKind::setup: return "setup";
    case RemoteErrorKind::auth: return "auth";
    case RemoteErrorKind::unauthorized: return "unauthorized";
    case RemoteErrorKind::throttled: return "throttled";
    case RemoteErrorKind::invalid_sync_state: return "invalid_sync_state";
    case RemoteErrorKind::mailbox_not_found: return "mailbox_not_found";
    case RemoteErrorKind::impersonation_denied: return "impersonation_denied";
    case RemoteErrorKind::access_denied: return "access_denied";
    case RemoteErrorKind::conflict: return "conflict";
    case RemoteErrorKind::item_not_found: return "item_not_found";
    case RemoteErrorKind::invalid_item: return "invalid_item";
    case RemoteErrorKind::server: return "server";
    case RemoteErrorKind::protocol: return "protocol";
    case RemoteErrorKind::mismatched_answer: return "mismatched_answer";
    case RemoteErrorKind::item_refused: return "item_refused";
  }
  return "unknown";
}

bool concerns_whole_batch(RemoteErrorKind kind) {
  switch (kind) {
    case RemoteErrorKind::throttled:
    case RemoteErrorKind::auth:
    case RemoteErrorKind::unauthorized:
    case RemoteErrorKind::access_denied:
    case RemoteErrorKind::impersonation_denied:
    case RemoteErrorKind::mailbox_not_found:
      return true;
    default:
      return false;
  }
}

}  // namespace exsync::model
