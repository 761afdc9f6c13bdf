#include "contract_driver.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <algorithm>
#include <stdexcept>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "test_support.hpp"

namespace exsync::contract {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The two folders, and in each the field only the CRM writes and the field only Exchange writes:
// disjoint, so that every outcome of a race between them is predictable.
enum class Folder { contacts, calendar };
struct FolderFields {
  const char* api;        // path segment in the CRM's API and the simulator's
  const char* title;      // holds the item's key ("k12 ...")
  const char* crm_field;
  const char* ex_field;
  const char* items_arg;  // `exsyncd items --folder`
};
constexpr FolderFields kFields[] = {{"contacts", "display_name", "job_title", "company", "contacts"},
                                    {"events", "subject", "body", "location", "calendar"}};
const FolderFields& fields(Folder f) { return kFields[static_cast<int>(f)]; }

std::string str(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// "k12 agent" -> "k12"; "" for items the driver did not make.
std::string key_of(const std::string& title) {
  if (title.size() < 2 || title[0] != 'k' || !std::isdigit(static_cast<unsigned char>(title[1]))) return "";
  return title.substr(0, title.find(' '));
}

// What the model knows of one item the driver made, and what it accepts at the next quiescence
// point. Everything about an item is reset from what was observed at each quiescence point.
struct Tracked {
  std::string key, mailbox;
  Folder folder = Folder::contacts;
  bool from_crm = false;
  std::string local_id;  // once known
  bool may_absent = false, may_present = true;
  std::set<std::string> crm_ok{""}, ex_ok{""};  // acceptable values of the two fields
  std::set<std::string> ex_seen{""};            // every value Exchange's field had since the last point
  bool crm_wrote = false, ex_wrote = false;     // since the last point
  bool crm_deleted = false;                     // acknowledged CRM delete: the CRM leaves it alone
  bool gone = false;                            // observed absent: no more operations
  // A series the CRM made: each occurrence (by original start, UTC) and its acceptable states:
  // "" as the pattern has it, "cancelled", or the subject the CRM gave it alone.
  std::map<std::string, std::set<std::string>> occurrences;
};

// What a series shows of its occurrence originally at `original`, in the states above.
std::string occurrence_state(const json::object& series, const std::string& original) {
  if (const auto* d = series.if_contains("deleted_occurrences"))
    for (const auto& x : d->as_array())
      if (x.is_string() && x.as_string() == original) return "cancelled";
  if (const auto* m = series.if_contains("modified_occurrences"))
    for (const auto& x : m->as_array())
      if (str(x.as_object(), "original_start") == original) {
        const auto own = str(x.as_object(), "subject");
        return own == str(series, "subject") ? std::string() : own;
      }
  return "";
}

struct Message {
  std::string mailbox, subject, local_id;
  bool acknowledged = false;
};

struct Observed {  // one folder of one mailbox
  std::map<std::string, json::object> exchange;  // by ews_id
  std::vector<json::object> store;
};

class Driver {
 public:
  explicit Driver(const RunOptions& o)
      : options_(o),
        rng_(o.seed),
        sim_(test::SimOptions{.mailboxes = o.mailboxes, .contacts = o.contacts, .events = o.events,
                              .seed = static_cast<int>(o.seed % 100000) + 1}),
        api_(sim_),
        daemon_(sim_.config(), logs_.path()) {
    report_.seed = o.seed;
    auto text = test::read_file(sim_.config());
    replace(text, "interval_seconds = 10", "interval_seconds = 1");
    replace(text, "request_timeout_seconds = 30", "request_timeout_seconds = 3");
    test::write_file(sim_.config(), text);
    mailboxes_ = sim_.mailboxes();
    mailbox_list_ = test::read_file(sim_.dir() / "mailboxes.txt");
  }

  RunReport run() {
    daemon_.start();
    if (::testing::Test::HasFatalFailure()) return fail("the daemon did not start");
    int until_point = 10 + static_cast<int>(rng_() % 30);
    for (int i = 0; i < options_.operations && !stopped(); ++i) {
      step();
      ++report_.operations;
      if (--until_point == 0) {
        quiesce_and_check();
        until_point = 10 + static_cast<int>(rng_() % 30);
      }
    }
    if (!stopped()) quiesce_and_check();
    daemon_.signal(SIGTERM);
    auto r = daemon_.wait(30s);
    if (!r) violation("exsyncd did not stop within 30 s of SIGTERM");
    else if (r->exit_code != 0) violation("exsyncd exited " + std::to_string(r->exit_code) + " on SIGTERM");
    ++report_.checks;
    if (sim_.schema_violations() != 0) violation("a request failed Microsoft's schema: " + sim_.last_schema_violation());
    ++report_.checks;
    keep_evidence();
    return report_;
  }

 private:
  // --- operations --------------------------------------------------------------------------
  void step() {
    struct Op {
      const char* name;
      int weight;
      void (Driver::*apply)();
    };
    static constexpr Op kOps[] = {
        {"crm.create", 10, &Driver::crm_create},   {"crm.patch", 14, &Driver::crm_patch},
        {"crm.delete", 4, &Driver::crm_delete},    {"crm.send", 4, &Driver::crm_send},
        {"ex.create", 7, &Driver::ex_create},      {"ex.update", 12, &Driver::ex_update},
        {"ex.delete", 4, &Driver::ex_delete},      {"ex.mass_delete", 1, &Driver::ex_mass_delete},
        {"ex.poison", 2, &Driver::ex_poison},      {"crm.patch_race", 2, &Driver::crm_patch_race},
        {"resync", 3, &Driver::resync},            {"fault.throttle", 3, &Driver::fault_throttle},
        {"fault.network", 3, &Driver::fault_network}, {"fault.timeout", 1, &Driver::fault_timeout},
        {"fault.refusal", 2, &Driver::fault_refusal}, {"daemon.kill", 3, &Driver::daemon_kill},
        {"daemon.reload", 1, &Driver::daemon_reload}, {"pause", 6, &Driver::pause},
        {"crm.occurrence", 5, &Driver::crm_occurrence},
    };
    auto weight = [&](const Op& op) {
      auto it = options_.weights.find(op.name);
      return it == options_.weights.end() ? op.weight : it->second;
    };
    for (const auto& [name, w] : options_.weights) {
      if (std::none_of(std::begin(kOps), std::end(kOps), [&](const Op& op) { return op.name == name; }) || w < 0)
        throw std::invalid_argument("EXSYNC_CONTRACT_WEIGHTS: no operation \"" + name + "\" (or a negative weight)");
    }
    int total = 0;
    for (const auto& op : kOps) total += weight(op);
    if (total <= 0) throw std::invalid_argument("EXSYNC_CONTRACT_WEIGHTS: every operation weighs 0");
    int pick = static_cast<int>(rng_() % static_cast<unsigned>(total));
    for (const auto& op : kOps) {
      if ((pick -= weight(op)) < 0) {
        ++report_.by_kind[op.name];
        note(op.name);
        (this->*op.apply)();
        return;
      }
    }
  }

  const std::string& any_mailbox() { return mailboxes_[rng_() % mailboxes_.size()]; }
  Folder any_folder() { return rng_() % 4 == 0 ? Folder::calendar : Folder::contacts; }
  std::string fresh(char prefix) { return prefix + std::to_string(++counter_); }
  std::string base(const std::string& mb, Folder f) {
    return "/v1/mailboxes/" + test::url_segment(mb) + "/" + fields(f).api;
  }

  // A CRM answer from a mailbox a reload has just removed: nothing happened.
  static bool unknown_mailbox(const test::CrmApi::Answer& a) {
    return a.status == 404 && a.body.find("\"unknown_mailbox\"") != std::string::npos;
  }
  static bool unknown_item(const test::CrmApi::Answer& a) {
    return a.status == 404 && a.body.find("\"unknown_item\"") != std::string::npos;
  }

  void crm_create() {
    const auto folder = any_folder();
    const auto& mb = any_mailbox();
    Tracked t{.key = fresh('k'), .mailbox = mb, .folder = folder, .from_crm = true};
    json::object body{{fields(folder).title, t.key + " crm"}, {fields(folder).crm_field, "c0"}};
    if (folder == Folder::calendar) {
      const int day = 1 + static_cast<int>(rng_() % 28);
      const std::string date = "2027-02-" + std::string(day < 10 ? "0" : "") + std::to_string(day);
      body["start"] = date + "T10:00:00+00:00";
      body["end"] = date + "T11:00:00+00:00";
      body["time_zone"] = "UTC";
      if (rng_() % 3 == 0) {  // a weekly series of four, on that date's weekday
        static const char* kDays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
        const auto weekday = std::chrono::weekday{std::chrono::sys_days{std::chrono::year(2027) / 2 / day}};
        body["recurrence"] = json::object{{"pattern", "weekly"}, {"interval", 1},
                                          {"days_of_week", json::array{kDays[weekday.c_encoding()]}},
                                          {"range", "numbered"}, {"start_date", date}, {"count", 4}};
        for (int week = 0; week < 4; ++week) {
          const auto d = std::chrono::year_month_day{std::chrono::sys_days{std::chrono::year(2027) / 2 / day} +
                                                     std::chrono::weeks(week)};
          char original[32];
          std::snprintf(original, sizeof original, "%04d-%02u-%02uT10:00:00Z", static_cast<int>(d.year()),
                        static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
          t.occurrences[original] = {""};
        }
      }
    }
    auto a = crm("POST", base(mb, folder), json::serialize(body));
    if (unknown_mailbox(a)) return;
    t.crm_ok = {"c0"};
    t.crm_wrote = true;
    if (a.status == 201) {
      t.local_id = str(json::parse(a.body).as_object(), "id");
    } else if (a.status == 0) {
      t.may_absent = true;  // unknown whether it was stored
    } else {
      return violation("POST " + base(mb, folder) + " answered " + std::to_string(a.status) + ": " + a.body);
    }
    tracked_.push_back(std::move(t));
  }

  Tracked* pick(auto&& eligible) {
    std::vector<Tracked*> candidates;
    for (auto& t : tracked_)
      if (!t.gone && eligible(t)) candidates.push_back(&t);
    return candidates.empty() ? nullptr : candidates[rng_() % candidates.size()];
  }
  Tracked* crm_target() {
    return pick([](const Tracked& t) { return !t.local_id.empty() && !t.crm_deleted; });
  }

  // The item must exist as far as the CRM can tell: a 404 for it is a lost item.
  void check_not_lost(const Tracked& t, const test::CrmApi::Answer& a, const std::string& what) {
    ++report_.checks;
    if (unknown_item(a) && !t.may_absent)
      violation(what + " " + t.key + " (" + t.local_id + "): 404 for an item nobody deleted");
  }

  std::optional<std::string> etag_of(const Tracked& t) {
    auto a = crm("GET", base(t.mailbox, t.folder) + "/" + test::url_segment(t.local_id));
    if (a.status != 200) {
      if (a.status != 0 && !unknown_mailbox(a)) check_not_lost(t, a, "GET");
      return std::nullopt;
    }
    return str(json::parse(a.body).as_object(), "etag");
  }

  void crm_patch() {
    Tracked* t = crm_target();
    if (!t) return crm_create();
    const auto value = fresh('c');
    std::vector<std::string> headers;
    bool raced = false;
    if (rng_() % 2 == 0) {  // If-Match, sometimes with an Exchange edit racing it
      auto etag = etag_of(*t);
      if (!etag) return;
      headers.push_back("If-Match: " + *etag);  // the tag is quoted already
      if (rng_() % 3 == 0 && ex_edit(*t)) {
        raced = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(rng_() % 2500));
      }
    }
    json::object body{{fields(t->folder).crm_field, value}};
    auto a = crm("PATCH", base(t->mailbox, t->folder) + "/" + test::url_segment(t->local_id),
                       json::serialize(body), headers);
    if (unknown_mailbox(a)) return;
    if (a.status == 200) {
      t->crm_ok = {value};
      t->crm_wrote = true;
      t->may_present = true;
      t->may_absent = false;  // even if Exchange deleted it meanwhile: an edited item is created again
    } else if (a.status == 0) {
      t->crm_ok.insert(value);
      t->crm_wrote = true;
    } else if (a.status == 412) {
      ++report_.checks;
      if (headers.empty()) violation("PATCH without If-Match answered 412: " + a.body);
      if (a.body.find("\"current\"") == std::string::npos) violation("412 without the current item: " + a.body);
      // Only Exchange changes the item behind the CRM's back here.
      if (!raced && !t->ex_wrote) violation("PATCH " + t->key + " answered 412 though only the CRM changed it: " + a.body);
      ++by_kind("crm.patch.412");
    } else if (unknown_item(a)) {
      check_not_lost(*t, a, "PATCH");
    } else {
      violation("PATCH " + t->key + " answered " + std::to_string(a.status) + ": " + a.body);
    }
  }

  // An Outlook edit, then at once several CRM PATCHes of the same contact in parallel: the
  // daemon's pull of the edit races the API's read-merge-write of each patch.
  void crm_patch_race() {
    Tracked* t = pick([](const Tracked& t) { return !t.local_id.empty() && !t.crm_deleted && t.folder == Folder::contacts; });
    if (!t || !ex_edit(*t)) return;
    constexpr int kParallel = 6;
    std::vector<std::string> values;
    for (int i = 0; i < kParallel; ++i) values.push_back(fresh('c'));
    std::vector<test::CrmApi::Answer> answers(kParallel);
    std::vector<std::thread> threads;
    const auto path = base(t->mailbox, t->folder) + "/" + test::url_segment(t->local_id);
    for (int i = 0; i < kParallel; ++i) {
      threads.emplace_back([&, i] {
        test::CrmApi own(sim_);  // one client per thread
        answers[i] = own.call("PATCH", path, json::serialize(json::object{{fields(t->folder).crm_field, values[i]}}));
      });
    }
    for (auto& th : threads) th.join();
    bool acked = false;
    std::set<std::string> possible;
    for (int i = 0; i < kParallel; ++i) {
      note("crm PATCH " + path + " " + values[i] + " (in parallel) -> " + std::to_string(answers[i].status));
      if (unknown_mailbox(answers[i])) continue;
      if (answers[i].status == 200 || answers[i].status == 0) possible.insert(values[i]);
      acked |= answers[i].status == 200;
      if (unknown_item(answers[i])) check_not_lost(*t, answers[i], "PATCH");
      else if (answers[i].status == 503) ++by_kind("crm.patch_race.busy");  // lost the race to the others: not written
      else if (answers[i].status != 200 && answers[i].status != 0)
        violation("PATCH " + t->key + " answered " + std::to_string(answers[i].status) + ": " + answers[i].body);
    }
    if (possible.empty()) return;
    // Which of the parallel patches was applied last is the server's to decide.
    t->crm_ok = acked ? possible : (t->crm_ok.insert(possible.begin(), possible.end()), t->crm_ok);
    t->crm_wrote = true;
    if (acked) {
      t->may_present = true;
      t->may_absent = false;
    }
  }

  // One occurrence of a CRM series renamed or cancelled, as an agent does in the CRM.
  void crm_occurrence() {
    Tracked* t = pick([](const Tracked& t) { return !t.local_id.empty() && !t.crm_deleted && !t.occurrences.empty(); });
    if (!t) return crm_create();
    auto it = t->occurrences.begin();
    std::advance(it, static_cast<long>(rng_() % t->occurrences.size()));
    const auto& [original, ok] = *it;
    const auto path = base(t->mailbox, t->folder) + "/" + test::url_segment(t->local_id) + "/occurrences/" + original;
    const bool cancel = rng_() % 3 == 0;
    const std::string state = cancel ? "cancelled" : t->key + " occ " + fresh('c');
    auto a = cancel ? crm("DELETE", path) : crm("PATCH", path, json::serialize(json::object{{"subject", state}}));
    if (unknown_mailbox(a)) return;
    if (a.status == 200 || a.status == 204) {
      ++by_kind(cancel ? "crm.occurrence.cancelled" : "crm.occurrence.renamed");
      it->second = {state};
      t->crm_wrote = true;
      t->may_present = true;
      t->may_absent = false;  // even if Exchange deleted it meanwhile: an edited item is created again
    } else if (a.status == 0) {
      it->second.insert(state);
      t->crm_wrote = true;
    } else if (a.status == 404 && a.body.find("\"unknown_occurrence\"") != std::string::npos) {
      ++report_.checks;
      if (!ok.contains("cancelled")) violation(path + ": 404 for an occurrence nobody cancelled: " + a.body);
    } else if (unknown_item(a)) {
      check_not_lost(*t, a, cancel ? "DELETE occurrence" : "PATCH occurrence");
    } else {
      violation((cancel ? "DELETE " : "PATCH ") + path + " answered " + std::to_string(a.status) + ": " + a.body);
    }
  }

  void crm_delete() {
    Tracked* t = crm_target();
    if (!t) return;
    std::vector<std::string> headers;
    if (rng_() % 2 == 0) {
      auto etag = etag_of(*t);
      if (!etag) return;
      headers.push_back("If-Match: " + *etag);
    }
    auto a = crm("DELETE", base(t->mailbox, t->folder) + "/" + test::url_segment(t->local_id), "", headers);
    if (unknown_mailbox(a)) return;
    if (a.status == 204 || a.status == 0) {
      t->may_absent = true;
      if (a.status == 204) {
        t->crm_deleted = true;
        // Exchange's edit racing the delete may bring it back (the remote side wins a conflict).
        t->may_present = t->ex_wrote;
      }
    } else if (a.status == 412) {
      ++report_.checks;
      if (!t->ex_wrote) violation("DELETE " + t->key + " answered 412 though only the CRM changed it: " + a.body);
      ++by_kind("crm.delete.412");
    } else if (unknown_item(a)) {
      check_not_lost(*t, a, "DELETE");
    } else {
      violation("DELETE " + t->key + " answered " + std::to_string(a.status) + ": " + a.body);
    }
  }
  int& by_kind(const char* k) { return report_.by_kind[k]; }

  void crm_send() {
    const auto& mb = any_mailbox();
    Message m{.mailbox = mb, .subject = fresh('m') + " contract"};
    json::object body{{"to", json::array{"ann@example.com"}}, {"subject", m.subject}, {"text", "x"}};
    auto a = crm("POST", "/v1/mailboxes/" + test::url_segment(mb) + "/messages", json::serialize(body));
    if (unknown_mailbox(a)) return;
    if (a.status == 202) {
      m.acknowledged = true;
      m.local_id = str(json::parse(a.body).as_object(), "id");
    } else if (a.status != 0) {
      return violation("POST messages answered " + std::to_string(a.status) + ": " + a.body);
    }
    messages_.push_back(std::move(m));
  }

  // Exchange's side, through the simulator's control API (as Outlook would).
  std::string sim_path(const std::string& mb, Folder f) {
    return "/sim/mailboxes/" + test::url_segment(mb) + "/" + fields(f).api;
  }
  std::map<std::string, json::object> exchange_items(const std::string& mb, Folder f) {
    std::map<std::string, json::object> out;
    auto r = exch("GET", sim_path(mb, f));
    std::istringstream in(r.body);
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      auto o = json::parse(line).as_object();
      out[str(o, "ews_id")] = std::move(o);
    }
    return out;
  }
  // The Exchange id of a tracked item, if Exchange has it now.
  std::optional<std::string> exchange_id(const Tracked& t) {
    for (const auto& [id, o] : exchange_items(t.mailbox, t.folder))
      if (key_of(str(o, fields(t.folder).title)) == t.key) return id;
    return std::nullopt;
  }

  void ex_create() {
    const auto& mb = any_mailbox();
    Tracked t{.key = fresh('k'), .mailbox = mb, .folder = Folder::contacts, .from_crm = false};
    const auto value = fresh('x');
    json::object body{{"display_name", t.key + " outlook"}, {"company", value}};
    auto r = exch("POST", sim_path(mb, Folder::contacts), json::serialize(body));
    if (r.status != 201) return violation("simulator refused a contact: " + r.body);
    t.ex_ok = {value};
    t.ex_seen = {value};
    t.ex_wrote = true;
    tracked_.push_back(std::move(t));
  }

  // Changes Exchange's field of `t` if Exchange has it; true if it did.
  bool ex_edit(Tracked& t) {
    auto id = exchange_id(t);
    if (!id) return false;
    const auto value = fresh('x');
    const auto path = sim_path(t.mailbox, t.folder) + "/" + test::url_segment(*id);
    auto r = t.folder == Folder::contacts
                 ? exch("PATCH", path, json::serialize(json::object{{"company", value}}))
                 : exch("PUT", path, json::serialize(json::object{{"location", value}}));
    if (r.status != 200 && r.status != 204) return false;
    t.ex_seen.insert(value);
    // After a deletion in this stretch the item may come back as the store last saw it.
    if (t.ex_seen.size() > 1 && t.may_absent && t.crm_wrote) t.ex_ok = t.ex_seen;
    else t.ex_ok = {value};
    t.ex_wrote = true;
    return true;
  }

  void ex_update() {
    Tracked* t = pick([](const Tracked&) { return true; });
    if (t) ex_edit(*t);
  }

  void ex_remove(Tracked& t, const std::string& id) {
    if (exch("DELETE", sim_path(t.mailbox, t.folder) + "/" + test::url_segment(id)).status != 204) return;
    t.may_absent = true;
    // A CRM edit not yet written makes it come back; one already written does not.
    t.may_present = t.crm_wrote;
    t.ex_ok = t.ex_seen;
    t.ex_wrote = true;
  }

  void ex_delete() {
    Tracked* t = pick([](const Tracked&) { return true; });
    if (!t) return;
    if (auto id = exchange_id(*t)) ex_remove(*t, *id);
  }

  // More than half of a mailbox's contacts deleted in Exchange at once: the guard must hold it.
  void ex_mass_delete() {
    const auto& mb = any_mailbox();
    auto items = exchange_items(mb, Folder::contacts);
    std::vector<std::string> ids;
    for (const auto& [id, o] : items) ids.push_back(id);
    std::shuffle(ids.begin(), ids.end(), rng_);
    ids.resize(ids.size() * 8 / 10);
    // The guard measures a burst by the folder's stored size before it (and leaves folders under
    // 10 alone); deleted items the CRM edits afterwards are created again and leave the burst.
    auto& burst = mass_[mb];
    if (burst.deleted == 0) burst.stored = store_items(mb, Folder::contacts).size();
    burst.deleted += ids.size();
    // All at once, as one burst: the daemon's passes wait while the deletions are made (a pass
    // seeing only the first few would apply them, and the folder left too small to judge).
    exch("PUT", "/sim/faults/ews", R"({"kind":"http503","backoff_ms":1000,"count":-1,"operation":"SyncFolderItems"})");
    for (const auto& id : ids) {
      const auto key = key_of(str(items[id], "display_name"));
      Tracked* t = key.empty() ? nullptr : find(mb, key);
      if (t) burst.keys.push_back(key);
      if (t) ex_remove(*t, id);
      else exch("DELETE", sim_path(mb, Folder::contacts) + "/" + test::url_segment(id));
    }
    exch("DELETE", "/sim/faults/ews");
  }

  // The mailboxes whose mass deletion since the last point must be held: more than 60 % of the
  // folder (the guard's share is half; the margin covers the folder's own changes meanwhile).
  std::set<std::string> must_hold() const {
    std::set<std::string> out;
    for (const auto& [mb, burst] : mass_) {
      std::size_t edited = 0;
      for (const auto& key : burst.keys)
        for (const auto& t : tracked_)
          if (t.mailbox == mb && t.key == key && (t.crm_wrote || t.crm_deleted)) ++edited;
      const auto effective = burst.deleted - std::min(edited, burst.deleted);
      if (burst.stored >= 15 && static_cast<double>(effective) > 0.6 * static_cast<double>(burst.stored)) out.insert(mb);
    }
    return out;
  }

  // An item Exchange will no longer hand over (GetItem answers it with an error of its own),
  // edited so that the daemon asks for it: it must be quarantined and its folder go on. It is
  // healed after the next quiescence point.
  void ex_poison() {
    Tracked* t = pick([](const Tracked&) { return true; });
    if (!t) return;
    auto id = exchange_id(*t);
    if (!id) return;
    static const char* codes[] = {"ErrorCorruptData", "ErrorItemCorrupt", "ErrorInvalidPropertyRequest"};
    json::object body{{"code", codes[rng_() % 3]}};
    if (exch("PUT", "/sim/mailboxes/" + test::url_segment(t->mailbox) + "/poison/" + test::url_segment(*id),
             json::serialize(body)).status != 204)
      return violation("simulator refused to poison " + *id);
    poisoned_.push_back({t->mailbox, *id});
    ex_edit(*t);
  }

  Tracked* find(const std::string& mb, const std::string& key) {
    for (auto& t : tracked_)
      if (t.mailbox == mb && t.key == key) return &t;
    return nullptr;
  }

  void resync() {
    exch("POST", "/sim/mailboxes/" + test::url_segment(any_mailbox()) + "/invalidate-sync-states");
  }
  void fault(json::object f) { exch("PUT", "/sim/faults/ews", json::serialize(f)); }
  void fault_throttle() {
    static const char* kinds[] = {"server_busy", "http503", "http429"};
    fault({{"kind", kinds[rng_() % 3]}, {"backoff_ms", 200 + static_cast<int>(rng_() % 1300)},
           {"count", 1 + static_cast<int>(rng_() % 5)}});
  }
  void fault_network() {
    static const char* kinds[] = {"reset_before", "reset_mid", "truncated", "http500", "http502", "answer_twice"};
    fault({{"kind", kinds[rng_() % 6]}, {"count", 1 + static_cast<int>(rng_() % 3)}});
  }
  void fault_timeout() { fault({{"kind", "slow"}, {"delay_ms", 4000}, {"count", 1}}); }
  void fault_refusal() {  // a write answered with something that is no EWS answer
    static const char* ops[] = {"CreateItem", "UpdateItem", "DeleteItem"};
    fault({{"kind", "foreign_xml"}, {"operation", ops[rng_() % 3]}, {"count", 1 + static_cast<int>(rng_() % 3)}});
  }

  void daemon_kill() {
    std::this_thread::sleep_for(std::chrono::milliseconds(rng_() % 400));
    daemon_.kill();
    daemon_.start();
    if (::testing::Test::HasFatalFailure()) violation("the daemon did not start again after SIGKILL");
  }

  // SIGHUP with the last mailbox removed from the list, then again with it back.
  void daemon_reload() {
    auto reloads = [&] {
      const auto log = daemon_.log();
      int n = 0;
      for (auto p = log.find("event=config.reloaded"); p != std::string::npos; p = log.find("event=config.reloaded", p + 1)) ++n;
      return n;
    };
    auto reload = [&](const std::string& list) {
      const int before = reloads();
      test::write_file(sim_.dir() / "mailboxes.txt", list);
      daemon_.signal(SIGHUP);
      const auto deadline = Clock::now() + 20s;
      while (reloads() == before && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
      if (reloads() == before) violation("SIGHUP: no config.reloaded within 20 s");
    };
    std::string shorter;
    std::istringstream in(mailbox_list_);
    for (std::string line; std::getline(in, line);)
      if (line.find(mailboxes_.back()) == std::string::npos) shorter += line + "\n";
    reload(shorter);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng_() % 1500));
    reload(mailbox_list_);
  }

  void pause() { std::this_thread::sleep_for(std::chrono::milliseconds(rng_() % 800)); }

  // --- quiescence and the invariants -------------------------------------------------------
  std::vector<json::object> store_items(const std::string& mb, Folder f) {
    auto r = test::run_process({test::exsyncd_path().string(), "items", "--config", sim_.config().string(),
                                "--mailbox", mb, "--folder", fields(f).items_arg});
    std::vector<json::object> out;
    if (r.exit_code != 0) {
      violation("exsyncd items: " + r.err);
      return out;
    }
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line).as_object());
    return out;
  }

  json::object api_json(const std::string& path) {
    auto a = crm("GET", path);
    if (a.status != 200) return {};
    return json::parse(a.body).as_object();
  }

  // Two versions of an item agree on everything both sides keep.
  static bool same_item(Folder f, const json::object& store, const json::object& exchange) {
    if (f == Folder::contacts)
      return test::comparable_contact(json::serialize(store)) == test::comparable_contact(json::serialize(exchange));
    for (const char* k : {"subject", "location", "body", "start", "end"})
      if (str(store, k) != str(exchange, k)) return false;
    // A series: the same occurrences cancelled, and the same ones moved or renamed.
    auto occurrences = [](const json::object& e) {
      std::string out;
      if (const auto* d = e.if_contains("deleted_occurrences")) out += json::serialize(*d);
      if (const auto* m = e.if_contains("modified_occurrences"))
        for (const auto& x : m->as_array())
          out += "|" + str(x.as_object(), "original_start") + " " + str(x.as_object(), "start") + " " + str(x.as_object(), "subject");
      return out;
    };
    return occurrences(store) == occurrences(exchange);
  }

  // The local ids of the CRM writes parked in a mailbox's outbox, and whether any is pending.
  std::pair<std::set<std::string>, int> outbox(const std::string& mb) {
    std::set<std::string> parked;
    int pending = 0;
    auto o = api_json("/v1/mailboxes/" + test::url_segment(mb) + "/outbox");
    if (auto* list = o.if_contains("outbox")) {
      for (const auto& e : list->as_array()) {
        if (str(e.as_object(), "state") == "parked") parked.insert(str(e.as_object(), "id"));
        else ++pending;
      }
    } else {
      ++pending;  // not answered yet
    }
    return {parked, pending};
  }

  void quiesce_and_check() {
    ++report_.quiescence_points;
    note("quiescence point " + std::to_string(report_.quiescence_points));
    exch("DELETE", "/sim/faults/ews");
    if (!daemon_.running()) daemon_.start();
    // A probe made in Exchange now must arrive in every mailbox: no folder is stuck.
    for (const auto& mb : mailboxes_) {
      Tracked t{.key = fresh('k'), .mailbox = mb, .folder = Folder::contacts};
      const auto value = fresh('x');
      json::object body{{"display_name", t.key + " probe"}, {"company", value}};
      if (exch("POST", sim_path(mb, Folder::contacts), json::serialize(body)).status != 201)
        violation("simulator refused the probe contact");
      t.ex_ok = t.ex_seen = {value};
      t.ex_wrote = true;
      tracked_.push_back(std::move(t));
    }

    std::map<std::string, std::set<std::string>> parked, quarantined;
    std::map<std::pair<std::string, Folder>, Observed> seen;
    held_since_.clear();
    const auto deadline = Clock::now() + 120s;
    std::string why;
    for (;;) {
      why.clear();
      seen.clear();
      for (const auto& mb : mailboxes_) {
        auto [p, pending] = outbox(mb);
        parked[mb] = p;
        quarantined[mb].clear();
        auto q = api_json("/v1/mailboxes/" + test::url_segment(mb) + "/quarantine");
        if (auto* list = q.if_contains("quarantine"))
          for (const auto& e : list->as_array()) quarantined[mb].insert(str(e.as_object(), "ews_id"));
        if (pending) why = mb + ": " + std::to_string(pending) + " outbox entries pending";
        auto status = api_json("/v1/mailboxes");
        for (const Folder f : {Folder::contacts, Folder::calendar}) {
          auto& o = seen[{mb, f}];
          o.exchange = exchange_items(mb, f);
          o.store = store_items(mb, f);
          if (!why.empty()) continue;
          why = differences(mb, f, o, p, quarantined[mb], held(status, mb, fields(f).items_arg));
        }
      }
      for (const auto& m : messages_) {
        if (!why.empty()) break;
        if (!m.acknowledged) continue;
        auto st = api_json("/v1/mailboxes/" + test::url_segment(m.mailbox) + "/messages/" + m.local_id);
        const auto state = str(st, "state");
        if (state != "sent" && state != "failed") why = "message " + m.subject + " is " + state;
      }
      if (why.empty()) break;
      if (why == "confirmed") continue;
      if (Clock::now() > deadline) {
        violation("no convergence within 120 s: " + why);
        return;
      }
      std::this_thread::sleep_for(250ms);
    }
    ++report_.checks;  // converged
    for (const auto& mb : must_hold()) {
      ++report_.checks;
      if (!held_seen_.contains(mb))
        violation(mb + ": most of its contacts were deleted in Exchange and the deletions went through unconfirmed");
    }
    mass_.clear();
    held_seen_.clear();
    check_items(seen, parked, quarantined);
    check_feed(seen);
    check_messages();
    // Every item poisoned since the last point was quarantined (or it could not have converged);
    // now it is healed, and edited so that it comes in.
    for (const auto& [mb, id] : poisoned_) {
      exch("DELETE", "/sim/mailboxes/" + test::url_segment(mb) + "/poison/" + test::url_segment(id));
      for (auto& t : tracked_)
        if (t.mailbox == mb && !t.gone && exchange_id(t) == id) ex_edit(t);
    }
    poisoned_.clear();
  }

  static std::int64_t held(const json::object& status, const std::string& mb, const char* folder) {
    auto* list = status.if_contains("mailboxes");
    if (!list) return 0;
    for (const auto& m : list->as_array()) {
      if (str(m.as_object(), "address") != mb) continue;
      auto* f = m.as_object().at("folders").as_object().if_contains(folder);
      if (f) return f->as_object().at("deletions_held").to_number<std::int64_t>();
    }
    return 0;
  }

  // "" when the store and Exchange agree on a folder, "confirmed" after confirming the held
  // deletions that were its only difference, else what differs.
  std::string differences(const std::string& mb, Folder f, const Observed& o, const std::set<std::string>& parked,
                          const std::set<std::string>& quarantined, std::int64_t held) {
    std::set<std::string> stored_ids;
    std::size_t extra = 0;
    std::string why;
    std::size_t parked_gone = 0;  // parked items Exchange no longer has: held like the others
    for (const auto& s : o.store) {
      const auto id = str(s, "ews_id");
      if (parked.contains(str(s, "id"))) {
        if (!id.empty() && !o.exchange.contains(id)) ++parked_gone;
        continue;
      }
      if (id.empty()) {
        why = mb + ": " + json::serialize(s) + " never reached Exchange";
        continue;
      }
      stored_ids.insert(id);
      auto it = o.exchange.find(id);
      if (it == o.exchange.end()) ++extra;  // quarantined or not: a deletion like any other
      else if (quarantined.contains(id)) continue;  // visibly quarantined: the stored version stays
      else if (!same_item(f, s, it->second)) why = mb + ": stored " + json::serialize(s) + ", Exchange has " + json::serialize(it->second);
    }
    for (const auto& [id, e] : o.exchange) {
      if (stored_ids.contains(id) || quarantined.contains(id)) continue;
      const auto key = key_of(str(e, fields(f).title));
      const Tracked* t = key.empty() ? nullptr : find(mb, key);
      if (t && parked.contains(t->local_id)) continue;  // its parked delete
      why = mb + ": " + json::serialize(e) + " not in the store";
    }
    if (!why.empty() && held > 0) {
      // Other changes must keep arriving while deletions are held; after 20 s without, the
      // operator confirms anyway, so that the run goes on to look for more.
      auto& since = held_since_[{mb, f}];
      if (!since) since = Clock::now();
      if (Clock::now() - *since < 20s) return why;
      violation(mb + ": other changes stopped arriving while " + std::to_string(held) + " deletions are held: " + why);
      since.reset();
    } else if (!why.empty()) {
      return why;
    } else if (extra == 0 && held == 0) {
      return "";
    } else if (extra == 0 && held > 0 && static_cast<std::size_t>(held) == parked_gone) {
      // Only parked items are held: confirmed like any.
    }
    if (held > 0 && (extra == static_cast<std::size_t>(held) || extra + parked_gone == static_cast<std::size_t>(held) ||
                     !why.empty())) {
      // Held deletions, visible as held: the operator confirms them.
      ++report_.checks;
      auto a = crm("POST", "/v1/mailboxes/" + test::url_segment(mb) + "/folders/" + fields(f).items_arg +
                                     "/confirm-deletions");
      if (a.status == 200) ++report_.deletions_confirmed;
      if (f == Folder::contacts) held_seen_.insert(mb);
      return "confirmed";
    }
    return mb + ": " + std::to_string(extra) + " stored items no longer in Exchange, " + std::to_string(held) +
           " deletions held";
  }

  void check_items(const std::map<std::pair<std::string, Folder>, Observed>& seen,
                   const std::map<std::string, std::set<std::string>>& parked,
                   const std::map<std::string, std::set<std::string>>& quarantined) {
    // Conflicts recorded since the last point, by local id.
    std::map<std::string, std::vector<json::object>> conflicts;
    for (const auto& mb : mailboxes_) {
      auto c = api_json("/v1/mailboxes/" + test::url_segment(mb) + "/conflicts");
      if (auto* list = c.if_contains("conflicts"))
        for (const auto& e : list->as_array()) {
          const auto n = e.as_object().at("conflict").to_number<std::int64_t>();
          if (n <= conflicts_seen_[mb]) continue;
          conflicts_seen_[mb] = std::max(conflicts_seen_[mb], n);
          if (e.as_object().at("losing").is_object())
            conflicts[str(e.as_object(), "id")].push_back(e.as_object().at("losing").as_object());
          ++by_kind("conflicts");
        }
    }
    for (auto& t : tracked_) {
      if (t.gone) continue;
      const auto& o = seen.at({t.mailbox, t.folder});
      const auto& f = fields(t.folder);
      std::vector<const json::object*> in_store;
      int in_exchange = 0;
      const json::object* exchange_version = nullptr;
      for (const auto& s : o.store)
        if (key_of(str(s, f.title)) == t.key) in_store.push_back(&s);
      for (const auto& [id, e] : o.exchange)
        if (key_of(str(e, f.title)) == t.key) {
          ++in_exchange;
          exchange_version = &e;
        }
      report_.checks += 4;
      if (in_exchange > 1) violation(t.key + " is in Exchange " + std::to_string(in_exchange) + " times");
      if (in_store.size() > 1) violation(t.key + " is stored " + std::to_string(in_store.size()) + " times");
      if (in_store.empty() && exchange_version && quarantined.at(t.mailbox).contains(str(*exchange_version, "ews_id"))) {
        ++by_kind("quarantined");  // never stored: visibly quarantined, and in Exchange
        continue;
      }
      if (in_store.empty()) {
        if (!t.may_absent) violation(t.key + " (" + t.local_id + ", " + t.mailbox + ") is lost: nobody deleted it");
        t.gone = true;
        continue;
      }
      const auto& s = *in_store.front();
      const auto local_id = str(s, "id");
      if (!t.local_id.empty() && local_id != t.local_id)
        violation(t.key + ": local id " + t.local_id + " became " + local_id);
      t.local_id = local_id;
      // Visibly parked or quarantined: the two sides differ until it is settled, each keeping
      // its own version of its field.
      if (parked.at(t.mailbox).contains(local_id) || quarantined.at(t.mailbox).contains(str(s, "ews_id"))) {
        ++by_kind(parked.at(t.mailbox).contains(local_id) ? "parked" : "quarantined");
        reset(t, s);
        if (exchange_version) {
          t.crm_ok.insert(str(*exchange_version, f.crm_field));
          t.ex_ok.insert(str(*exchange_version, f.ex_field));
          t.ex_seen = t.ex_ok;
        }
        continue;
      }
      if (!t.may_present)
        violation(t.key + " (" + local_id + ") exists again after it was deleted: " + json::serialize(s));
      const auto crm_value = str(s, f.crm_field);
      if (!t.crm_ok.contains(crm_value)) {
        bool kept = false;
        for (const auto& losing : conflicts[local_id]) kept |= t.crm_ok.contains(str(losing, f.crm_field));
        if (!kept)
          violation(t.key + ": the CRM's " + f.crm_field + " " + join(t.crm_ok) + " is lost (now \"" + crm_value +
                    "\", no conflict kept it)");
      }
      for (const auto& [original, ok] : t.occurrences) {
        ++report_.checks;
        const auto now = occurrence_state(s, original);
        if (ok.contains(now)) continue;
        bool kept = false;
        for (const auto& losing : conflicts[local_id]) kept |= ok.contains(occurrence_state(losing, original));
        if (!kept)
          violation(t.key + ": the CRM's occurrence " + original + " " + join(ok) + " is lost (now \"" + now +
                    "\", no conflict kept it)");
      }
      if (!t.ex_ok.contains(str(s, f.ex_field)))
        violation(t.key + ": Exchange's " + f.ex_field + " " + join(t.ex_ok) + " was reverted to \"" +
                  str(s, f.ex_field) + "\"");
      reset(t, s);
    }
  }

  static void reset(Tracked& t, const json::object& s) {
    const auto& f = fields(t.folder);
    t.may_absent = false;
    t.may_present = true;
    t.crm_ok = {str(s, f.crm_field)};
    t.ex_ok = t.ex_seen = {str(s, f.ex_field)};
    for (auto& [original, ok] : t.occurrences) ok = {occurrence_state(s, original)};
    t.crm_wrote = t.ex_wrote = false;
  }

  void check_feed(const std::map<std::pair<std::string, Folder>, Observed>& seen) {
    for (const auto& mb : mailboxes_) {
      for (;;) {
        auto page = api_json("/v1/mailboxes/" + test::url_segment(mb) + "/changes?cursor=" +
                             std::to_string(cursor_[mb]) + "&limit=1000");
        auto* list = page.if_contains("changes");
        if (!list || list->as_array().empty()) break;
        for (const auto& c : list->as_array()) {
          const auto& e = c.as_object();
          const auto seq = e.at("seq").to_number<std::int64_t>();
          ++report_.checks;
          if (seq <= cursor_[mb]) violation(mb + ": feed seq " + std::to_string(seq) + " after " + std::to_string(cursor_[mb]));
          cursor_[mb] = seq;
          last_kind_[str(e, "id")] = str(e, "kind");
          reported_.insert(str(e, "id"));
        }
      }
      std::set<std::string> stored;
      for (const Folder f : {Folder::contacts, Folder::calendar})
        for (const auto& s : seen.at({mb, f}).store) stored.insert(str(s, "id"));
      for (const auto& id : stored) {
        ++report_.checks;
        auto it = last_kind_.find(id);
        if (it != last_kind_.end() && it->second == "deleted")
          violation(mb + ": the feed reported " + id + " deleted, but it exists");
      }
    }
    for (const auto& t : tracked_) {
      if (t.gone || t.from_crm || t.local_id.empty()) continue;
      ++report_.checks;
      if (!reported_.contains(t.local_id)) violation(t.key + " (" + t.local_id + ") came from Exchange but the feed never reported it");
    }
  }

  void check_messages() {
    std::map<std::string, std::string> sent;  // by mailbox: Sent Items as JSON lines
    for (const auto& mb : mailboxes_) sent[mb] = exch("GET", "/sim/mailboxes/" + test::url_segment(mb) + "/sent").body;
    for (const auto& m : messages_) {
      int n = 0;
      const auto needle = "\"subject\":\"" + m.subject + "\"";
      for (auto p = sent[m.mailbox].find(needle); p != std::string::npos; p = sent[m.mailbox].find(needle, p + 1)) ++n;
      ++report_.checks;
      if (n > 1) violation("message " + m.subject + " was sent " + std::to_string(n) + " times");
      if (!m.acknowledged) continue;
      auto st = api_json("/v1/mailboxes/" + test::url_segment(m.mailbox) + "/messages/" + m.local_id);
      const auto state = str(st, "state");
      if (state == "sent" && n != 1) violation("message " + m.subject + " is sent but " + std::to_string(n) + " times in Sent Items");
      if (state == "failed" && n != 0) violation("message " + m.subject + " failed but is in Sent Items");
      if (state == "failed") ++by_kind("messages.failed");
    }
  }

  // --- plumbing ----------------------------------------------------------------------------
  // With EXSYNC_CONTRACT_KEEP=DIR, a run that broke the contract leaves the daemon's logs, the
  // store and the driver's operation log in DIR/seed-S.
  void keep_evidence() {
    const char* dir = std::getenv("EXSYNC_CONTRACT_KEEP");
    if (!dir || !*dir || report_.violations.empty()) return;
    const auto out = std::filesystem::path(dir) / ("seed-" + std::to_string(report_.seed));
    std::filesystem::create_directories(out);
    const auto opts = std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing;
    std::error_code ec;
    std::filesystem::copy(logs_.path(), out / "logs", opts, ec);
    for (const char* f : {"exsync.db", "exsync.db-wal", "exsync.toml", "mailboxes.txt"})
      std::filesystem::copy(sim_.dir() / f, out / f, std::filesystem::copy_options::overwrite_existing, ec);
    test::write_file(out / "operations.log", journal_);
  }
  test::CrmApi::Answer crm(const std::string& method, const std::string& path, const std::string& body = "",
                           const std::vector<std::string>& headers = {}) {
    auto a = api_.call(method, path, body, headers);
    if (method != "GET") note("crm " + method + " " + path + " " + body + " -> " + std::to_string(a.status) + " " + a.body.substr(0, 200));
    return a;
  }
  http::Response exch(const std::string& method, const std::string& path, const std::string& body = "") {
    auto r = sim_.control(method, path, body);
    if (method != "GET") note("exchange " + method + " " + path + " " + body + " -> " + std::to_string(r.status));
    return r;
  }
  void note(const std::string& line) { journal_ += std::to_string(report_.operations) + " " + line + "\n"; }

  static void replace(std::string& text, const std::string& from, const std::string& to) {
    auto p = text.find(from);
    if (p != std::string::npos) text.replace(p, from.size(), to);
  }
  static std::string join(const std::set<std::string>& values) {
    std::string out = "{";
    for (const auto& v : values) out += (out.size() > 1 ? ", \"" : "\"") + v + "\"";
    return out + "}";
  }
  void violation(std::string what) {
    report_.violations.push_back("after operation " + std::to_string(report_.operations) + ": " + std::move(what));
  }
  RunReport fail(std::string what) {
    violation(std::move(what));
    return report_;
  }
  bool stopped() const { return report_.violations.size() >= 10 || ::testing::Test::HasFatalFailure(); }

  RunOptions options_;
  std::mt19937 rng_;
  test::TempDir logs_;
  test::Simulator sim_;
  test::CrmApi api_;
  test::Daemon daemon_;
  std::vector<std::string> mailboxes_;
  std::string mailbox_list_;
  std::vector<Tracked> tracked_;
  std::vector<Message> messages_;
  std::map<std::string, std::int64_t> cursor_, conflicts_seen_;
  std::map<std::string, std::string> last_kind_;
  std::set<std::string> reported_;
  struct MassDeletion {
    std::size_t deleted = 0, stored = 0;
    std::vector<std::string> keys;  // the driver's items among them
  };
  std::map<std::string, MassDeletion> mass_;  // by mailbox, since the last point
  std::set<std::string> held_seen_;
  std::vector<std::pair<std::string, std::string>> poisoned_;  // (mailbox, ews id) since the last point
  std::map<std::pair<std::string, Folder>, std::optional<Clock::time_point>> held_since_;  // mailboxes with a mass deletion since the last point
  int counter_ = 0;
  std::string journal_;  // what the driver did, one line per request
  RunReport report_;
};

}  // namespace

RunReport run_contract(const RunOptions& options) { return Driver(options).run(); }

std::string describe(const RunReport& r) {
  std::string out = "seed " + std::to_string(r.seed) + ": " + std::to_string(r.operations) + " operations, " +
                    std::to_string(r.quiescence_points) + " quiescence points, " + std::to_string(r.checks) +
                    " checks, " + std::to_string(r.deletions_confirmed) + " held deletions confirmed, " +
                    std::to_string(r.violations.size()) + " violations\n  ";
  for (const auto& [kind, n] : r.by_kind) out += kind + "=" + std::to_string(n) + " ";
  for (const auto& v : r.violations) out += "\n  VIOLATION " + v;
  return out;
}

}  // namespace exsync::contract
