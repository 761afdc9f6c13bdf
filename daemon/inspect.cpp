// `exsyncd items` and `exsyncd status`: the store read while the daemon may be running.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <map>

#include "commands.hpp"
#include "exsync/core/mailbox_address.hpp"
#include "exsync/log/log.hpp"
#include "exsync/model/item_json.hpp"
#include "runtime.hpp"

namespace exsync::daemon {

int print_items(Runtime& rt, const CommandLine& cl) {
  auto folder = model::parse_folder(cl.folder);
  if (!folder) {
    std::fprintf(stderr, "exsyncd: --folder: \"%s\" is not a folder exsync syncs (contacts, calendar)\n", cl.folder.c_str());
    return kExitUsage;
  }
  auto items = rt.store->items(normalize_mailbox_address(cl.mailbox), *folder);
  if (!items) {
    log::error("store.read.failed", {{"message", items.error().message}});
    return kExitIoError;
  }
  std::string out;
  for (const auto& item : *items) {
    auto payload = model::payload_from_json(*folder, item.payload_json);
    if (!payload) {
      log::error("store.item.unreadable", {{"id", item.local_id}, {"message", payload.error()}});
      return kExitIoError;
    }
    // As the CRM's API shows it.
    out += model::payload_to_json(*payload, model::ItemIdentity{item.local_id, item.remote, store::item_etag(item)});
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

// `status`: one row per configured mailbox from the store (the daemon may be running).
int print_status(Runtime& rt, const CommandLine& cl, const std::vector<std::string>& mailboxes) {
  const bool progress_bars = ::isatty(STDOUT_FILENO) != 0;
  struct Row {
    std::string mailbox, state, last_success, last_error;
    std::map<std::string, std::int64_t> items;
    std::map<std::string, std::int64_t> initial_total;  // folders in their initial sync
    std::int64_t pending = 0, parked = 0, deletions_held = 0, quarantined = 0;
    // Items stored and expected over the folders in their initial sync.
    std::pair<std::int64_t, std::int64_t> progress() const {
      std::pair<std::int64_t, std::int64_t> p{0, 0};
      for (const auto& [f, total] : initial_total) {
        p.first += std::min(items.at(f), total);
        p.second += total;
      }
      return p;
    }
  };
  std::vector<Row> rows;
  for (const auto& mailbox : mailboxes) {
    Row row{mailbox, "never synced", "", "", {}};
    auto folders = rt.store->status(mailbox);
    auto outbox = rt.store->outbox(mailbox);
    if (!folders || !outbox) {
      log::error("store.read.failed", {{"message", folders ? outbox.error().message : folders.error().message}});
      return kExitIoError;
    }
    bool failing = false;
    for (const auto& f : *folders) {
      row.items[f.folder] = f.items;
      if (f.initial_total) row.initial_total[f.folder] = *f.initial_total;
      row.deletions_held += f.deletions_held;
      row.quarantined += f.quarantined;
      if (!f.last_success.empty() && (row.last_success.empty() || f.last_success < row.last_success))
        row.last_success = f.last_success;  // the folder that is furthest behind
      if (!f.last_error.empty()) {
        failing = true;
        row.last_error = f.last_error_at + " " + f.last_error;
      }
    }
    for (const auto& e : *outbox) (e.state == "parked" ? row.parked : row.pending) += 1;
    if (!folders->empty())
      row.state = failing                       ? "failing"
                  : row.deletions_held > 0      ? "held"
                  : row.quarantined > 0         ? "quarantine"
                  : !row.initial_total.empty()  ? "initial sync"
                                                : "ok";
    rows.push_back(std::move(row));
  }
  std::string out;
  if (cl.json) {
    boost::json::array list;
    for (const auto& r : rows) {
      boost::json::object items;
      for (const auto& [f, n] : r.items) items[f] = n;
      boost::json::object initial;
      for (const auto& [f, n] : r.initial_total) initial[f] = n;
      list.push_back(boost::json::object{
          {"mailbox", r.mailbox},
          {"state", r.state},
          {"last_success", r.last_success.empty() ? boost::json::value(nullptr) : boost::json::value(r.last_success)},
          {"last_error", r.last_error.empty() ? boost::json::value(nullptr) : boost::json::value(r.last_error)},
          {"items", std::move(items)},
          {"initial_sync_total", std::move(initial)},
          {"outbox", boost::json::object{{"pending", r.pending}, {"parked", r.parked}}},
          {"deletions_held", r.deletions_held},
          {"quarantined", r.quarantined}});
    }
    out = boost::json::serialize(boost::json::object{{"mailboxes", std::move(list)}}) + "\n";
  } else {
    std::size_t width = 7;
    for (const auto& r : rows) width = std::max(width, r.mailbox.size());
    char line[512];
    std::snprintf(line, sizeof line, "%-*s  %-12s  %-20s  %11s  %11s  %7s  %s\n", static_cast<int>(width), "MAILBOX",
                  "STATE", "LAST SUCCESS", "CONTACTS", "CALENDAR", "OUTBOX", "LAST ERROR");
    out += line;
    for (const auto& r : rows) {
      // "1200" once synced; "1200/5000" during the initial sync.
      auto count = [&](const char* f) {
        auto it = r.items.find(f);
        if (it == r.items.end()) return std::string("-");
        auto total = r.initial_total.find(f);
        return std::to_string(it->second) +
               (total == r.initial_total.end() ? "" : "/" + std::to_string(total->second));
      };
      std::snprintf(line, sizeof line, "%-*s  %-12s  %-20s  %11s  %11s  %7s  ", static_cast<int>(width),
                    r.mailbox.c_str(), r.state.c_str(), r.last_success.empty() ? "-" : r.last_success.c_str(),
                    count("contacts").c_str(), count("calendar").c_str(),
                    (std::to_string(r.pending) + (r.parked ? "+" + std::to_string(r.parked) + "!" : "")).c_str());
      out += line;
      std::string last = !r.last_error.empty() ? r.last_error
                         : r.quarantined > 0 ? std::to_string(r.quarantined) + " item" + (r.quarantined == 1 ? "" : "s") +
                                                   " Exchange will not hand over (GET .../quarantine)"
                                             : "-";
      if (const auto [done, total] = r.progress(); total > 0 && progress_bars) {
        // On a terminal, a bar for the initial sync before the last error, if any.
        constexpr int kBar = 20;
        const auto filled = static_cast<std::size_t>(done * kBar / total);
        last = "[" + std::string(filled, '#') + std::string(kBar - filled, '.') + "] " +
               std::to_string(done * 100 / total) + "%" + (r.last_error.empty() ? "" : "  " + r.last_error);
      }
      out += last;
      out += '\n';
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace exsync::daemon
