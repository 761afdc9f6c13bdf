#include "tenant.hpp"

#include "codec.hpp"

namespace exsync::sim {
namespace {

constexpr const char* kGiven[] = {"Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sophia", "Lucas", "Mia",
                                  "Ethan", "Chloé", "Jürgen", "Zoë", "Raj", "Aiko", "Fatima", "Seán", "Élodie"};
constexpr const char* kSurname[] = {"Smith", "García", "Nguyen", "O'Brien", "Müller", "Kowalski", "Johnson",
                                    "Rossi", "Tanaka", "Okafor", "Dubois", "Andersson", "Haddad", "Lee"};
constexpr const char* kNickname[] = {"Liv", "Ace", "Em", "Jo", "Max", "Bea", "Zee", "Kiki"};
constexpr const char* kCompany[] = {"Keller Williams", "Redfin & Partners", "Coldwell Banker", "Acme Title Co.",
                                    "First Street Mortgage", "Sunrise Escrow", "Blue Door Homes"};
constexpr const char* kJob[] = {"Buyer", "Seller", "Loan Officer", "Escrow Officer", "Home Inspector",
                                "Listing Agent", "Appraiser"};
constexpr const char* kCity[] = {"Austin", "Denver", "Portland", "Raleigh", "Boise", "Tampa", "Phoenix"};
constexpr const char* kState[] = {"TX", "CO", "OR", "NC", "ID", "FL", "AZ"};
constexpr const char* kStreet[] = {"Maple Ave", "Oak St", "Pine Rd", "Cedar Ln", "Elm Blvd", "Birch Ct"};
constexpr const char* kCategory[] = {"Buyer", "Seller", "Lead", "Past Client", "Vendor"};
constexpr const char* kNotes[] = {
    "Prefers text messages.",
    "Looking for 3BR near good schools.\nBudget around $450k.",
    "Met at the open house on Sunday; follow up in two weeks.",
    "Pre-approved <$500k> & wants a garage; \"ASAP\" ]]> no HOA.",
};

template <typename T, std::size_t N>
const T& pick(std::mt19937_64& rng, const T (&arr)[N]) {
  return arr[rng() % N];
}

std::string ascii_lower(std::string s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x80 && std::isalpha(c)) out += static_cast<char>(std::tolower(c));
  }
  return out.empty() ? "contact" : out;
}

}  // namespace

std::string SimContact::change_key() const {
  return "EQAAABYAAAC" + base64_encode(id.substr(id.size() > 12 ? id.size() - 12 : 0) + ":v" + std::to_string(version));
}

Tenant::Tenant(std::string domain, std::uint64_t seed)
    : tenant_id_(domain),
      domain_(std::move(domain)),
      client_id_("6731de76-14a6-49ae-97bc-6eba6914391e"),
      service_account_("svc-exsync@" + domain_),
      rng_(seed),
      request_ids_(seed ^ 0x9e3779b97f4a7c15ull) {
  password_ = "Sim-" + random_token(20);
  client_secret_ = "SimSecret~" + random_token(30);
}

SysSeconds Tenant::now() const {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

std::string Tenant::new_request_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    out += kHex[request_ids_() % 16];
  }
  return out;
}

std::string Tenant::random_token(std::size_t n) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += kChars[rng_() % 62];
  return out;
}

Mailbox& Tenant::add_mailbox(const std::string& address) {
  auto& mb = mailboxes_[address];
  if (mb.address.empty()) {
    mb.address = address;
    mb.guid_tag = random_token(8);
  }
  return mb;
}

bool Tenant::remove_mailbox(const std::string& address) { return mailboxes_.erase(address) > 0; }

Mailbox* Tenant::mailbox(const std::string& address) {
  auto it = mailboxes_.find(address);
  return it == mailboxes_.end() ? nullptr : &it->second;
}

std::vector<std::string> Tenant::mailbox_addresses() const {
  std::vector<std::string> out;
  for (const auto& [a, _] : mailboxes_) out.push_back(a);
  return out;
}

void Tenant::populate(Mailbox& mb, int count) {
  for (int i = 0; i < count; ++i) {
    model::Contact c;
    c.given_name = pick(rng_, kGiven);
    c.surname = pick(rng_, kSurname);
    c.display_name = c.given_name + " " + c.surname;
    c.file_as = c.surname + ", " + c.given_name;
    if (rng_() % 4 == 0) c.middle_name = std::string(1, char('A' + rng_() % 26)) + ".";
    if (rng_() % 6 == 0) c.nickname = pick(rng_, kNickname);
    if (rng_() % 3 != 0) c.company = pick(rng_, kCompany);
    if (rng_() % 2 == 0) c.job_title = pick(rng_, kJob);
    const std::string user = ascii_lower(c.given_name) + "." + ascii_lower(c.surname) + std::to_string(i);
    c.emails.push_back({"EmailAddress1", user + "@example.com", c.display_name});
    if (rng_() % 3 == 0) c.emails.push_back({"EmailAddress2", user + "@work.example.net", c.display_name});
    c.phones.push_back({"MobilePhone", "+1 512-555-" + std::to_string(1000 + rng_() % 9000)});
    if (rng_() % 2 == 0) c.phones.push_back({"BusinessPhone", "+1 (303) 555-" + std::to_string(1000 + rng_() % 9000)});
    if (rng_() % 2 == 0) {
      const auto k = rng_() % 7;
      c.addresses.push_back({rng_() % 2 ? "Home" : "Business",
                             std::to_string(100 + rng_() % 9000) + " " + pick(rng_, kStreet), kCity[k], kState[k],
                             std::to_string(10000 + rng_() % 89999), "United States"});
    }
    if (rng_() % 3 == 0) {
      c.birthday = std::chrono::year_month_day{std::chrono::year(1950 + int(rng_() % 50)),
                                               std::chrono::month(unsigned(1 + rng_() % 12)),
                                               std::chrono::day(unsigned(1 + rng_() % 28))};
    }
    if (rng_() % 3 == 0) c.notes = pick(rng_, kNotes);
    if (i == 0) c.notes = kNotes[3];  // every mailbox has one contact that needs escaping
    if (rng_() % 2 == 0) c.categories.push_back(pick(rng_, kCategory));
    create_contact(mb, std::move(c));
  }
}

const SimContact& Tenant::create_contact(Mailbox& mb, model::Contact c) {
  ++contacts_created;
  SimContact sc;
  sc.id = "AAMkAD" + base64_encode("exsim:" + mb.guid_tag + ":contact:" + std::to_string(mb.next_item++));
  if (c.birthday) {
    // Exchange keeps local midnight of the entered date, converted to UTC; the user's zone
    // varies with the contact, from UTC-10 to UTC+10.
    const int offset_hours = static_cast<int>(rng_() % 21) - 10;
    sc.birthday_instant = std::chrono::sys_days{*c.birthday} - std::chrono::hours(offset_hours);
  }
  sc.created = now();
  sc.last_modified = sc.created;
  c.last_modified = sc.last_modified;
  sc.contact = std::move(c);
  sc.created_seq = sc.last_seq = ++mb.seq;
  mb.by_seq[sc.last_seq] = sc.id;
  auto [it, _] = mb.contacts.emplace(sc.id, std::move(sc));
  return it->second;
}

const SimContact* Tenant::update_contact(Mailbox& mb, const std::string& id, model::Contact c) {
  auto it = mb.contacts.find(id);
  if (it == mb.contacts.end() || it->second.deleted) return nullptr;
  auto& sc = it->second;
  if (c.birthday && c.birthday != sc.contact.birthday) {
    const int offset_hours = static_cast<int>(rng_() % 21) - 10;
    sc.birthday_instant = std::chrono::sys_days{*c.birthday} - std::chrono::hours(offset_hours);
  }
  // LastModifiedTime has one-second resolution; keep it moving so updates are visible.
  sc.last_modified = std::max(now(), sc.last_modified + std::chrono::seconds(1));
  c.last_modified = sc.last_modified;
  sc.contact = std::move(c);
  ++sc.version;
  mb.by_seq.erase(sc.last_seq);
  sc.last_seq = ++mb.seq;
  mb.by_seq[sc.last_seq] = sc.id;
  return &sc;
}

const SimContact* Tenant::write_contact(Mailbox& mb, const std::string& id, model::Contact c,
                                        std::optional<SysSeconds> birthday_instant) {
  auto* sc = update_contact(mb, id, std::move(c));
  if (!sc) return nullptr;
  auto& stored = mb.contacts.at(id);
  if (birthday_instant) stored.birthday_instant = *birthday_instant;
  return sc;
}

bool Tenant::delete_contact(Mailbox& mb, const std::string& id) {
  auto it = mb.contacts.find(id);
  if (it == mb.contacts.end() || it->second.deleted) return false;
  auto& sc = it->second;
  sc.deleted = true;
  mb.by_seq.erase(sc.last_seq);
  sc.last_seq = ++mb.seq;
  mb.by_seq[sc.last_seq] = sc.id;
  return true;
}

const SimContact* Tenant::find_contact(const Mailbox& mb, const std::string& id) const {
  auto it = mb.contacts.find(id);
  return it == mb.contacts.end() || it->second.deleted ? nullptr : &it->second;
}

std::string Tenant::sync_state(const Mailbox& mb, std::string_view folder, std::uint64_t seq) const {
  return base64_encode("exsim-sync1\n" + mb.address + "\n" + std::string(folder) + "\n" + std::to_string(mb.epoch) +
                       "\n" + std::to_string(seq));
}

std::optional<std::uint64_t> Tenant::parse_sync_state(const Mailbox& mb, std::string_view folder,
                                                      const std::string& state) const {
  auto raw = base64_decode(state);
  if (!raw) return std::nullopt;
  const std::string prefix =
      "exsim-sync1\n" + mb.address + "\n" + std::string(folder) + "\n" + std::to_string(mb.epoch) + "\n";
  if (raw->rfind(prefix, 0) != 0) return std::nullopt;
  const std::string tail = raw->substr(prefix.size());
  if (tail.empty() || tail.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const auto seq = std::stoull(tail);
  if (seq > (folder == "calendar" ? mb.calendar.seq : mb.seq)) return std::nullopt;
  return seq;
}

namespace {

// The net effect of a folder's change log after `since`, in the order of each item's last change.
template <typename Item>
std::vector<SimChangeOf<Item>> net_changes(const std::map<std::string, Item>& items,
                                           const std::map<std::uint64_t, std::string>& by_seq, std::uint64_t head,
                                           std::uint64_t since, int max, std::uint64_t& next, bool& last) {
  std::vector<SimChangeOf<Item>> out;
  next = since;
  last = true;
  for (auto it = by_seq.upper_bound(since); it != by_seq.end(); ++it) {
    if (static_cast<int>(out.size()) >= max) {
      last = false;
      break;
    }
    const auto& item = items.at(it->second);
    next = it->first;
    if (item.created_seq > since) {
      if (!item.deleted) out.push_back({ChangeType::create, &item});  // created and deleted since: nothing
    } else {
      out.push_back({item.deleted ? ChangeType::remove : ChangeType::update, &item});
    }
  }
  if (last) next = head;
  return out;
}

}  // namespace

std::vector<SimChange> Tenant::changes_since(const Mailbox& mb, std::uint64_t since, int max, std::uint64_t& next,
                                             bool& last) const {
  return net_changes(mb.contacts, mb.by_seq, mb.seq, since, max, next, last);
}

std::vector<SimChangeOf<SimEvent>> Tenant::event_changes_since(const Mailbox& mb, std::uint64_t since, int max,
                                                               std::uint64_t& next, bool& last) const {
  return net_changes(mb.calendar.events, mb.calendar.by_seq, mb.calendar.seq, since, max, next, last);
}

std::string Tenant::issue_access_token(bool app, Audience audience) {
  // Shaped like Entra's: a JWT whose claims say who and what for; the signature is random.
  auto b64url = [](std::string text) {
    auto b = base64_encode(text);
    for (auto& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!b.empty() && b.back() == '=') b.pop_back();
    return b;
  };
  const bool graph = audience == Audience::graph;
  std::string roles;
  if (graph) {
    for (const auto& r : graph_app_roles) roles += (roles.empty() ? "\"" : ",\"") + r + "\"";
  } else {
    roles = "\"" + app_role + "\"";
  }
  const std::string claims = std::string("{\"aud\":\"") +
                             (graph ? "https://graph.microsoft.com" : "https://outlook.office365.com") +
                             "\",\"tid\":\"" + tenant_id() +
                             (app ? "\",\"roles\":[" + roles + "],\"appid\":\"" + client_id()
                                  : "\",\"upn\":\"" + service_account() + "\",\"scp\":\"" +
                                        (graph ? graph_delegated_scope : token_scope)) +
                             "\",\"jti\":\"" + random_token(16) + "\"}";
  auto t = b64url("{\"typ\":\"JWT\",\"alg\":\"RS256\"}") + "." + b64url(claims) + "." + random_token(48);
  access_tokens_[t] = {now() + token_lifetime, app, audience};
  return t;
}

std::string Tenant::issue_refresh_token() {
  auto t = "0.AXsim." + random_token(64);
  refresh_tokens_.insert(t);
  return t;
}

bool Tenant::access_token_valid(const std::string& token, Audience audience) const {
  auto it = access_tokens_.find(token);
  return it != access_tokens_.end() && now() < it->second.expires && it->second.audience == audience;
}

bool Tenant::access_token_is_app(const std::string& token) const {
  auto it = access_tokens_.find(token);
  return it != access_tokens_.end() && it->second.app;
}

std::optional<Tenant::EwsFault> Tenant::take_ews_fault(const std::string& mailbox, const std::string& operation,
                                                       const std::function<bool(const EwsFault&)>& applies) {
  auto& f = ews_fault;
  if (!f || (!f->mailbox.empty() && f->mailbox != mailbox) || (!f->operation.empty() && f->operation != operation))
    return std::nullopt;
  if (applies && !applies(*f)) return std::nullopt;
  if (f->share > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) >= f->share) return std::nullopt;
  auto taken = *f;
  if (f->remaining > 0 && --f->remaining == 0) f.reset();
  return taken;
}

Mailbox* Tenant::mailbox_by_tag(std::string_view guid_tag) {
  for (auto& [_, mb] : mailboxes_)
    if (mb.guid_tag == guid_tag) return &mb;
  return nullptr;
}

bool Tenant::refresh_token_valid(const std::string& token) const { return refresh_tokens_.contains(token); }

void Tenant::revoke_tokens() {
  access_tokens_.clear();
  refresh_tokens_.clear();
}

}  // namespace exsync::sim
