// Plain HTTP messages, free of Beast types, so that callers of the client and server need not
// compile Beast.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exsync::http {

struct Header {
  std::string name;
  std::string value;
};

// Case-insensitive lookup of the first header named `name`; empty when absent.
std::string_view find_header(const std::vector<Header>& headers, std::string_view name);

struct Request {
  std::string method = "POST";
  std::string url;     // client: absolute https:// URL; server: the request target ("/path?query")
  std::vector<Header> headers;
  std::string body;
  // Client: whether the request may be sent again when a reused connection fails after it was
  // sent but before any answer arrived (a read, or a token request: yes; a write: no, the server
  // may have carried it out, and the caller must find out instead).
  bool retry_safe = false;
  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

// The client's connection an answer came on, held out of the connection pool until the caller
// has checked that the answer is the one to its request (the right operation, the ids it asked
// for): reuse() puts it back in the pool, and dropping every copy of the lease closes it. So a
// connection whose answers are out of step with its requests (a server that answered one request
// twice, a proxy that delivers answers late) is never used again unless an answer proved itself.
// Thread-safety: reuse() and the last copy's destruction belong on the client's thread.
class ConnectionLease {
 public:
  struct Holder {
    virtual ~Holder() = default;
    virtual void reuse() = 0;
  };
  ConnectionLease() = default;
  explicit ConnectionLease(std::shared_ptr<Holder> holder) : holder_(std::move(holder)) {}
  // Gives the connection back to the pool; a no-op when it is closed or already given back.
  void reuse() {
    if (auto h = std::move(holder_)) h->reuse();
  }
  // Closes the connection now (the same as dropping the lease, but explicit).
  void close() { holder_.reset(); }
  bool held() const { return holder_ != nullptr; }

 private:
  std::shared_ptr<Holder> holder_;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  // Client only: the client-request-id this request carried (a fresh GUID per request), and the
  // connection, leased until the caller accepts the answer (see ConnectionLease). A connection
  // that must not be reused (an error status, unread bytes, Connection: close, an answer that
  // began before the request was written) comes without a lease.
  std::string request_id;
  ConnectionLease connection;
  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

// A request target ("/v1/mailboxes/a%40b.com/contacts?limit=10") split into percent-decoded path
// segments and query parameters; nullopt when it is not a valid origin-form target.
struct RequestTarget {
  std::vector<std::string> segments;
  std::map<std::string, std::string> query;
};
std::optional<RequestTarget> parse_request_target(std::string_view target);

// Compares in time independent of where the strings differ (for bearer tokens).
bool constant_time_equal(std::string_view a, std::string_view b);

// application/x-www-form-urlencoded encoding of one value (RFC 3986 unreserved kept as is).
std::string form_encode(std::string_view value);

}  // namespace exsync::http
