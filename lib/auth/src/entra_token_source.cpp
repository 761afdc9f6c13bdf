#include "exsync/auth/entra_token_source.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "exsync/log/log.hpp"

namespace exsync::auth {
namespace json = boost::json;
namespace {

constexpr std::chrono::seconds kTransientRetry{5};
constexpr std::chrono::seconds kCredentialRetry{60};

struct Token {
  std::string access;
  Clock::time_point expires_at;
};

struct Flight {
  explicit Flight(const net::any_io_executor& ex) : done(ex, net::steady_timer::time_point::max()) {}
  net::steady_timer done;
  std::optional<Result<std::string, AuthError>> result;
};


}  // namespace

struct EntraTokenSource::Impl {
  net::any_io_executor ex;
  http::Client& client;
  const Clock& clock;
  RopcSettings settings;
  std::optional<Token> token;
  std::string refresh_token;
  std::shared_ptr<Flight> flight;
  int requests = 0;
  std::map<std::string, std::uint64_t> failures;  // by AADSTS code, or the kind without one
  bool failing = false;  // the last sign-in failed
  // The last failure, answered without asking Entra again until `retry_at`: a wrong password
  // retried for every mailbox would lock the service account out (AADSTS50053).
  std::optional<AuthError> failure;
  Clock::time_point retry_at;

  bool fresh(const Token& t) const { return clock.now() + settings.refresh_margin < t.expires_at; }

  Task<Result<Token, AuthError>> post(const std::string& grant, std::string form) {
    ++requests;
    http::Request req;
    req.url = settings.token_url;
    req.retry_safe = true;  // a second token is harmless
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = "client_id=" + http::form_encode(settings.client_id) +
               "&scope=" + http::form_encode(settings.scope) + "&grant_type=" + grant + form;
    auto resp = co_await client.send(std::move(req));
    if (!resp)
      co_return Fail{AuthError{AuthErrorKind::network, 0, "", resp.error().message}};
    if (resp->status != 200) co_return Fail{classify_token_error(resp->status, resp->body)};

    auto parsed = parse_token_response(resp->body);
    if (!parsed) co_return Fail{std::move(parsed).error()};
    if (!parsed->refresh_token.empty()) refresh_token = std::move(parsed->refresh_token);
    log::info("auth.token.acquired", {{"grant", grant}, {"expires_in", parsed->expires_in.count()}});
    co_return Token{std::move(parsed->access_token), clock.now() + parsed->expires_in};
  }

  Task<Result<std::string, AuthError>> acquire() {
    if (!settings.client_secret.empty() || settings.client_certificate) {
      // App-only: no refresh token; a new token is simply asked for again.
      std::string credential;
      if (settings.client_certificate) {
        auto assertion = settings.client_certificate->assertion(settings.client_id, settings.token_url,
                                                                std::chrono::system_clock::now());
        if (!assertion) {
          AuthError e{AuthErrorKind::certificate_refused, 0, "", "cannot sign the client assertion: " + assertion.error().message};
          report(e);
          co_return Fail{std::move(e)};
        }
        credential = "&client_assertion_type=" + http::form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
                     "&client_assertion=" + *assertion;
      } else {
        credential = "&client_secret=" + http::form_encode(settings.client_secret);
      }
      auto r = co_await post("client_credentials", credential);
      if (!r) {
        report(r.error());
        co_return Fail{r.error()};
      }
      token = std::move(*r);
      failing = false;
      co_return token->access;
    }
    if (!refresh_token.empty()) {
      auto r = co_await post("refresh_token", "&refresh_token=" + http::form_encode(refresh_token));
      if (r) {
        token = std::move(*r);
        failing = false;
        co_return token->access;
      }
      if (r.error().kind == AuthErrorKind::network || r.error().kind == AuthErrorKind::server) {
        report(r.error());
        co_return Fail{r.error()};
      }
      // Refused: the refresh token expired or was revoked. Sign in with the password again.
      log::info("auth.refresh_token.refused",
                {{"aadsts", r.error().aadsts}, {"kind", auth_error_kind_name(r.error().kind)}});
      refresh_token.clear();
    }
    auto r = co_await post("password", "&username=" + http::form_encode(settings.username) +
                                           "&password=" + http::form_encode(settings.password));
    if (!r) {
      report(r.error());
      co_return Fail{r.error()};
    }
    token = std::move(*r);
    failing = false;
    co_return token->access;
  }

  void report(const AuthError& e) {
    failing = true;
    ++failures[e.aadsts != 0 ? "AADSTS" + std::to_string(e.aadsts) : std::string(auth_error_kind_name(e.kind))];
    log::error("auth.token.failed", {{"kind", auth_error_kind_name(e.kind)},
                                     {"aadsts", e.aadsts},
                                     {"error", e.error},
                                     {"description", e.description},
                                     {"advice", e.advice()}});
  }
};

EntraTokenSource::EntraTokenSource(net::any_io_executor executor, http::Client& client, const Clock& clock,
                                   RopcSettings settings)
    : impl_(new Impl{std::move(executor), client, clock, std::move(settings), {}, {}, {}, 0}) {}

EntraTokenSource::~EntraTokenSource() = default;

Task<Result<std::string, AuthError>> EntraTokenSource::access_token() {
  Impl& s = *impl_;
  if (s.token && s.fresh(*s.token)) co_return s.token->access;
  if (s.flight) {
    auto flight = s.flight;
    co_await flight->done.async_wait(net::as_tuple(net::use_awaitable));
    if (flight->result) co_return *flight->result;
    co_return Fail{AuthError{AuthErrorKind::network, 0, "", "token request abandoned"}};
  }
  if (s.failure && s.clock.now() < s.retry_at) co_return Fail{*s.failure};
  auto flight = std::make_shared<Flight>(s.ex);
  s.flight = flight;
  auto result = co_await s.acquire();
  if (result) {
    s.failure.reset();
  } else {
    s.failure = result.error();
    const bool transient = result.error().kind == AuthErrorKind::network || result.error().kind == AuthErrorKind::server;
    s.retry_at = s.clock.now() + (transient ? kTransientRetry : kCredentialRetry);
  }
  // A token near its refresh point but not yet expired is still good when refreshing failed.
  if (!result && s.token && s.clock.now() < s.token->expires_at) result = s.token->access;
  flight->result = result;
  s.flight.reset();
  flight->done.cancel();
  co_return result;
}

void EntraTokenSource::reject(const std::string& token) {
  if (impl_->token && impl_->token->access == token) impl_->token.reset();
}

void EntraTokenSource::set_password(std::string password) {
  impl_->settings.password = std::move(password);
  impl_->failure.reset();
}

int EntraTokenSource::token_requests() const { return impl_->requests; }

std::map<std::string, std::uint64_t> EntraTokenSource::token_failures() const { return impl_->failures; }

bool EntraTokenSource::failing() const { return impl_->failing; }

}  // namespace exsync::auth
