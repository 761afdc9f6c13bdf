#include "test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace exsync::test {

TempDir::TempDir() {
  std::random_device rd;
  for (;;) {
    path_ = fs::temp_directory_path() / ("exsync-test-" + std::to_string(rd()));
    if (fs::create_directory(path_)) break;
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

void write_secret_file(const fs::path& p, const std::string& content) {
  write_file(p, content);
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

void edit_config(const fs::path& config, const std::string& from, const std::string& to) {
  auto text = read_file(config);
  const auto pos = text.find(from);
  ASSERT_NE(pos, std::string::npos) << "no \"" << from << "\" in " << config;
  text.replace(pos, from.size(), to);
  write_file(config, text);
}

::testing::AssertionResult eventually(const std::function<bool()>& done, const std::string& what,
                                      const std::function<std::string()>& context,
                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return ::testing::AssertionFailure() << "not within " << timeout.count() << " ms: " << what << "\n"
                                           << (context ? context() : std::string());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ::testing::AssertionSuccess();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// What the simulator's secrets look like: its passwords, client secrets, refresh tokens and the
// JWT header of its access tokens. None may ever appear in what exsyncd prints.
void expect_no_secret(const std::string& what, const std::string& text) {
  for (const char* marker : {"Sim-", "SimSecret~", "0.AXsim.", "eyJ0eXAiOiJKV1Qi"}) {
    const auto at = text.find(marker);
    if (at == std::string::npos) continue;
    const auto begin = text.rfind('\n', at), end = text.find('\n', at);
    ADD_FAILURE() << "a secret in exsyncd's " << what << ": "
                  << text.substr(begin == std::string::npos ? 0 : begin + 1,
                                 (end == std::string::npos ? text.size() : end) - (begin == std::string::npos ? 0 : begin + 1));
  }
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const fs::path& log_dir, const std::string& name)
    : out_(log_dir / (name + ".out")), err_(log_dir / (name + ".err")) {
  for (const auto& a : argv) daemon_ |= a == exsyncd_path().string();
  pid_ = ::fork();
  if (pid_ == 0) {
    int o = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
}

void Process::signal(int signo) {
  if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

std::optional<ProcessResult> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!status_) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      // Every exsyncd run of the whole suite is searched for the simulator's secrets.
      if (daemon_) {
        expect_no_secret("standard output", stdout_text());
        expect_no_secret("log", stderr_text());
      }
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return ProcessResult{*status_, stdout_text(), stderr_text()};
}

std::string Process::stdout_text() const { return read_file(out_); }
std::string Process::stderr_text() const { return read_file(err_); }

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  TempDir logs;
  Process p(argv, logs.path(), "proc");
  auto r = p.wait(timeout);
  if (!r) {
    p.signal(SIGKILL);
    r = p.wait(std::chrono::seconds(10));
    ADD_FAILURE() << argv[0] << " did not finish in time";
  }
  return *r;
}

fs::path exsyncd_path() {
  // EXSYNC_TEST_DAEMON runs the black-box drivers (the contract and chaos tests) against another
  // build of the daemon, an older commit's say, with this tree's simulator and checks.
  if (const char* other = std::getenv("EXSYNC_TEST_DAEMON"); other && *other) return other;
  return EXSYNC_TEST_EXSYNCD;
}
fs::path sim_path() {
  if (const char* other = std::getenv("EXSYNC_TEST_SIM"); other && *other) return other;  // a copy, for a long soak
  return EXSYNC_TEST_SIM;
}
fs::path source_dir() { return EXSYNC_TEST_SOURCE_DIR; }

std::optional<fs::path> shared_dir() {
  auto p = (source_dir() / ".." / "shared").lexically_normal();
  if (fs::exists(p / "ews-schema") || fs::exists(p / "ews-captures")) return p;
  return std::nullopt;
}

Simulator::Simulator(SimOptions o) {
  std::vector<std::string> argv = {sim_path().string(), "--dir", dir_.path().string(),
                                   "--mailboxes", std::to_string(o.mailboxes),
                                   "--contacts", std::to_string(o.contacts),
                                   "--events", std::to_string(o.events),
                                   "--seed", std::to_string(o.seed),
                                   "--token-lifetime", std::to_string(o.token_lifetime)};
  if (o.client_certificate) argv.push_back("--client-certificate");
  if (o.validate_schema) {
    // Reference data, never optional: without it "every request passed the schema" would hold
    // without anything having been checked.
    auto shared = shared_dir();
    if (!shared || !fs::exists(*shared / "ews-schema" / "soap-envelope.xsd"))
      throw std::runtime_error("../shared/ews-schema is missing: Microsoft's EWS schema must sit beside the clone "
                               "(the simulator validates every request against it)");
    argv.push_back("--schema");
    argv.push_back((*shared / "ews-schema").string());
    validating_ = true;
  }
  process_ = std::make_unique<Process>(argv, dir_.path(), "sim");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(config())) {
    if (auto done = process_->wait(std::chrono::milliseconds(0)))
      throw std::runtime_error("exsync-sim exited: " + done->err);
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("exsync-sim did not start");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  port_ = static_cast<unsigned short>(std::stoi(read_file(dir_.path() / "sim.port")));
}

Simulator::~Simulator() {
  process_->signal(SIGTERM);
  if (!process_->wait(std::chrono::seconds(5))) process_->signal(SIGKILL);
}

std::string Simulator::password() const {
  auto p = read_file(dir_.path() / "service-account.password");
  while (!p.empty() && p.back() == '\n') p.pop_back();
  return p;
}

std::vector<std::string> Simulator::mailboxes() const {
  std::vector<std::string> out;
  std::istringstream in(read_file(dir_.path() / "mailboxes.txt"));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') out.push_back(line);
  }
  return out;
}

http::ClientOptions Simulator::client_options() const {
  http::ClientOptions opts;
  opts.ca_file = dir_.path() / "ca.pem";
  opts.use_system_trust = false;
  return opts;
}

auth::RopcSettings Simulator::ropc_settings() const {
  return {base_url() + "/contoso.onmicrosoft.com/oauth2/v2.0/token", "6731de76-14a6-49ae-97bc-6eba6914391e",
          "https://outlook.office365.com/EWS.AccessAsUser.All offline_access", "svc-exsync@contoso.onmicrosoft.com",
          password()};
}

auth::RopcSettings Simulator::graph_app_settings() const {
  auto s = ropc_settings();
  s.scope = "https://graph.microsoft.com/.default";
  s.client_secret = read_file(dir_.path() / "client.secret");
  while (!s.client_secret.empty() && s.client_secret.back() == '\n') s.client_secret.pop_back();
  return s;
}

http::Response Simulator::control(const std::string& method, const std::string& path, const std::string& body) {
  boost::asio::io_context io;
  auto client = http::Client::create(io.get_executor(), client_options());
  if (!client) throw std::runtime_error(client.error().message);
  // A TLS fault injected for the daemon (/sim/faults/tls) may meet this client too: try again.
  for (int attempt = 0;; ++attempt) {
    http::Request req{method, base_url() + path, {{"Content-Type", "application/json"}}, body};
    auto r = run(io, (*client)->send(std::move(req)));
    if (r) {
      r->connection.close();  // its io_context ends here
      return std::move(*r);
    }
    if (attempt == 20 || r.error().message.find("TLS handshake") == std::string::npos)
      throw std::runtime_error("control " + path + ": " + r.error().message);
  }
}

std::map<std::string, std::string> Simulator::contacts(const std::string& mailbox) {
  auto r = control("GET", "/sim/mailboxes/" + url_segment(mailbox) + "/contacts");
  std::map<std::string, std::string> out;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto v = boost::json::parse(line);
    out[std::string(v.at("ews_id").as_string())] = line;
  }
  return out;
}

namespace {
boost::json::object stats(Simulator& sim) {
  return boost::json::parse(sim.control("GET", "/sim/stats").body).as_object();
}
}  // namespace

int Simulator::operation_count(const std::string& op) {
  auto s = stats(*this);
  auto* v = s.at("operations").as_object().if_contains(op);
  return v ? static_cast<int>(v->as_int64()) : 0;
}

int Simulator::graph_operation_count(const std::string& op) {
  auto s = stats(*this);
  auto* v = s.at("graph_operations").as_object().if_contains(op);
  return v ? static_cast<int>(v->as_int64()) : 0;
}

int Simulator::stat(const std::string& name) {
  auto s = stats(*this);
  auto* v = s.if_contains(name);
  return v && v->is_int64() ? static_cast<int>(v->as_int64()) : -1;
}

int Simulator::schema_violations() { return static_cast<int>(stats(*this).at("schema_violations").as_int64()); }

void Simulator::expect_schema_valid_requests() {
  if (validating_) {
    EXPECT_EQ(schema_violations(), 0) << last_schema_violation();
  }
}

std::string Simulator::last_schema_violation() {
  return std::string(stats(*this).at("last_schema_violation").as_string());
}

std::string url_segment(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') out += static_cast<char>(c);
    else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::map<std::string, std::string> stored_items(const fs::path& config, const std::string& mailbox) {
  auto r = run_process({exsyncd_path().string(), "items", "--config", config.string(), "--mailbox", mailbox});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto v = boost::json::parse(line);
    const std::string id(v.at("ews_id").as_string());
    EXPECT_FALSE(out.contains(id)) << "duplicate item " << id << " in " << mailbox;
    out[id] = line;
  }
  return out;
}

std::string without_local_id(const std::string& line) {
  // object::erase moves the last member into the hole; copy instead to keep the order.
  const auto parsed = boost::json::parse(line);
  boost::json::object out;
  for (const auto& member : parsed.as_object()) {
    if (member.key() != "id" && member.key() != "etag") out[member.key()] = member.value();
  }
  return boost::json::serialize(out);
}

boost::json::object comparable_contact(const std::string& json_line) {
  auto v = boost::json::parse(json_line).as_object();
  v.erase("id");
  v.erase("etag");
  v.erase("remote_id");
  v.erase("last_modified");
  return v;
}

void damage_database(const fs::path& db) {
  const auto size = fs::file_size(db);
  std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096 + 8));
  const std::string junk(3000, '\x5a');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

std::string api_address(const Simulator& sim) {
  const auto text = read_file(sim.config());
  const auto listen = text.substr(text.find("listen = \"") + 10);
  return listen.substr(0, listen.find('"'));
}

CrmApi::CrmApi(const Simulator& sim) {
  base_ = "http://" + api_address(sim);
  token_ = read_file(sim.dir() / "api.token");
  while (!token_.empty() && token_.back() == '\n') token_.pop_back();
}

CrmApi::Answer CrmApi::call(const std::string& method, const std::string& path, const std::string& body,
                            const std::vector<std::string>& headers) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-m", "10", "-X", method, "-w", "\n%{http_code}",
                                   "-H", "Authorization: Bearer " + token_};
  for (const auto& h : headers) argv.insert(argv.end(), {"-H", h});
  const auto head = bodies_ / ("head-" + std::to_string(++count_ % 64) + ".txt");
  argv.insert(argv.end(), {"-D", head.string()});
  if (!body.empty()) {
    const auto file = bodies_ / ("body-" + std::to_string(count_ % 64) + ".json");
    write_file(file, body);
    argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data-binary", "@" + file.string()});
  }
  argv.push_back(base_ + path);
  auto r = run_process(argv, std::chrono::seconds(30));
  const auto nl = r.out.rfind('\n');
  if (nl == std::string::npos) return {};
  Answer answer{std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl), read_file(head)};
  exchanges_ += boost::json::serialize(boost::json::object{{"method", method},
                                                            {"target", path},
                                                            {"request_body", body},
                                                            {"status", answer.status},
                                                            {"content_type", answer.header("Content-Type")},
                                                            {"body", answer.body}}) +
                "\n";
  return answer;
}

CrmApi::~CrmApi() {
  if (exchanges_.empty()) return;
  const auto file = bodies_ / "exchanges.jsonl";
  write_file(file, exchanges_);
  const auto report = openapi_violations(file);
  EXPECT_EQ(report, "") << "API exchanges that docs/openapi.yaml does not describe";
}

std::map<std::string, int> crm_contact_names(CrmApi& api, const std::string& mailbox) {
  std::map<std::string, int> seen;
  auto r = api.call("GET", "/v1/mailboxes/" + url_segment(mailbox) + "/contacts?limit=1000");
  if (r.status != 200) return seen;
  const auto parsed = boost::json::parse(r.body);
  for (const auto& c : parsed.at("items").as_array()) ++seen[std::string(c.at("display_name").as_string())];
  return seen;
}

bool crm_has_contact(CrmApi& api, const std::string& mailbox, const std::string& display_name) {
  return crm_contact_names(api, mailbox).contains(display_name);
}

boost::json::object mailbox_sync(CrmApi& api, const std::string& mailbox) {
  auto r = api.call("GET", "/v1/mailboxes");
  if (r.status != 200) return {};
  const auto parsed = boost::json::parse(r.body);  // named: a range-for over a temporary's member dangles
  for (const auto& m : parsed.at("mailboxes").as_array())
    if (m.at("address").as_string() == mailbox && m.as_object().contains("sync")) return m.at("sync").as_object();
  return {};
}

::testing::AssertionResult crm_has_each_once(CrmApi& api, const std::vector<std::string>& mailboxes,
                                             const std::map<std::string, std::vector<std::string>>& made,
                                             std::size_t initial, const std::function<std::string()>& context) {
  auto arrived = eventually([&] {
    for (const auto& [mb, names] : made) {
      const auto seen = crm_contact_names(api, mb);
      for (const auto& name : names)
        if (!seen.contains(name)) return false;
    }
    return true;
  }, "every change in the CRM", context);
  if (!arrived) return arrived;
  for (const auto& mb : mailboxes) {
    const auto seen = crm_contact_names(api, mb);
    for (const auto& [name, n] : seen)
      if (n != 1) return ::testing::AssertionFailure() << mb << ": " << name << " is there " << n << " times";
    const auto it = made.find(mb);
    const std::size_t want = initial + (it == made.end() ? 0 : it->second.size());
    if (seen.size() != want)
      return ::testing::AssertionFailure() << mb << " holds " << seen.size() << " contacts, not " << want;
  }
  return ::testing::AssertionSuccess();
}

std::string openapi_violations(const fs::path& file) {
  const auto tools = source_dir() / "tests" / "interop" / "openapi";
  if (!fs::exists(tools / "node_modules" / "ajv"))
    return tools.string() + "/node_modules is missing: scripts/test installs it (npm ci)";
  auto r = run_process({"/usr/bin/node", (tools / "validate.mjs").string(), (source_dir() / "docs" / "openapi.yaml").string(),
                        file.string()},
                       std::chrono::seconds(60));
  return r.exit_code == 0 ? std::string() : r.out + r.err;
}

std::string CrmApi::Answer::header(std::string_view name) const {
  std::istringstream lines(head);
  std::string line, value;
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon != name.size()) continue;
    if (!std::equal(name.begin(), name.end(), line.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); }))
      continue;
    value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
  }
  return value;
}

void Daemon::start() {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{exsyncd_path().string(), "run", "--config", config_.string()}, log_dir_,
      "exsyncd-" + std::to_string(starts_++));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (process_->stderr_text().find("event=api.listening") == std::string::npos) {
    if (auto done = process_->wait(std::chrono::milliseconds(0))) FAIL() << "exsyncd exited: " << done->err;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << process_->stderr_text();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Daemon::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  EXPECT_TRUE(process_->wait(std::chrono::seconds(10)));
  process_.reset();
}

::testing::AssertionResult Daemon::stop(std::chrono::milliseconds timeout) {
  if (!process_) return ::testing::AssertionFailure() << "exsyncd is not running";
  process_->signal(SIGTERM);
  auto r = process_->wait(timeout);
  if (!r) return ::testing::AssertionFailure() << "exsyncd did not exit on SIGTERM:\n" << process_->stderr_text();
  if (r->exit_code != 0)
    return ::testing::AssertionFailure() << "exsyncd exited " << r->exit_code << " on SIGTERM:\n" << r->err;
  return ::testing::AssertionSuccess();
}

}  // namespace exsync::test
