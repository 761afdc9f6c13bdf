#include "webhook_receiver.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <chrono>

#include "codec.hpp"

namespace exsync::sim {
namespace {

namespace json = boost::json;

http::Response json_lines(std::string body) { return {200, {{"Content-Type", "application/x-ndjson"}}, std::move(body)}; }

// HMAC-SHA256 under `key`, Base64.
std::string sign(const std::string& key, const std::string& content) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &len);
  return base64_encode(std::string(reinterpret_cast<const char*>(mac), len));
}

}  // namespace

WebhookReceiver::WebhookReceiver() {
  unsigned char raw[32];
  RAND_bytes(raw, sizeof raw);
  key_.assign(reinterpret_cast<const char*>(raw), sizeof raw);
  secret_ = "whsec_" + base64_encode(key_);
}

http::Response WebhookReceiver::receive(const http::Request& req) {
  Delivery d;
  d.received_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  d.id = std::string(req.header("webhook-id"));
  d.timestamp = std::string(req.header("webhook-timestamp"));
  d.body = req.body;
  // The signature header may hold several space-separated "v1,<sig>"; one must match.
  const std::string expected = "v1," + sign(key_, d.id + "." + d.timestamp + "." + d.body);
  const std::string signatures(req.header("webhook-signature"));
  for (std::size_t at = 0; at < signatures.size();) {
    auto end = signatures.find(' ', at);
    if (end == std::string::npos) end = signatures.size();
    const auto one = signatures.substr(at, end - at);
    if (one.size() == expected.size() && CRYPTO_memcmp(one.data(), expected.data(), one.size()) == 0) d.verified = true;
    at = end + 1;
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  long long sent = 0;
  try {
    sent = std::stoll(d.timestamp);
  } catch (...) {
    d.verified = false;
  }
  if (sent < now - 300 || sent > now + 300) d.verified = false;
  if (d.id.empty() || req.method != "POST") d.verified = false;
  d.repeat = taken_.contains(d.id);
  if (fault_count_ != 0) {
    if (fault_count_ > 0) --fault_count_;
    d.status = fault_status_;
  } else {
    d.status = d.verified ? 204 : 400;
  }
  if (d.status == 204) taken_.insert(d.id);
  const int status = d.status;
  deliveries_.push_back(std::move(d));
  return {status, {{"Content-Type", "text/plain"}}, status == 204 ? "" : "refused\n"};
}

http::Response WebhookReceiver::control(const http::Request& req, const std::vector<std::string>& p) {
  if (p.size() == 2 && req.method == "GET") {
    std::string out;
    for (const auto& d : deliveries_) {
      json::error_code ec;
      auto body = json::parse(d.body, ec);
      if (ec) body = json::value(d.body);
      out += json::serialize(json::object{{"webhook_id", d.id},
                                          {"timestamp", d.timestamp},
                                          {"verified", d.verified},
                                          {"repeat", d.repeat},
                                          {"status", d.status},
                                          {"received_ms", d.received_ms},
                                          {"body", std::move(body)}}) +
             "\n";
    }
    return json_lines(std::move(out));
  }
  if (p.size() == 3 && p[2] == "fault" && req.method == "PUT") {
    json::error_code ec;
    auto v = json::parse(req.body, ec);
    if (ec || !v.is_object()) return {400, {}, "a JSON object\n"};
    const auto& o = v.as_object();
    fault_status_ = o.contains("status") ? static_cast<int>(o.at("status").to_number<std::int64_t>()) : 503;
    if (fault_status_ < 300 || fault_status_ > 599) return {400, {}, "status must be 300 to 599\n"};
    fault_count_ = o.contains("count") ? static_cast<int>(o.at("count").to_number<std::int64_t>()) : -1;
    return {204, {}, ""};
  }
  if (p.size() == 3 && p[2] == "fault" && req.method == "DELETE") {
    fault_count_ = 0;
    return {204, {}, ""};
  }
  return {404, {{"Content-Type", "text/plain"}}, "no such webhook control\n"};
}

}  // namespace exsync::sim
