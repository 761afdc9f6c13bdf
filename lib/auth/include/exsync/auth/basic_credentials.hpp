// BasicCredentials: HTTP Basic for Exchange Server on-premises where modern authentication is
// not set up (`[tenant] auth = "basic"`). The "token" is base64(user:password); it only ever
// travels over verified TLS (the HTTP client speaks nothing else).
// Thread-safety: network thread only.
#pragma once

#include "exsync/auth/token_source.hpp"

namespace exsync::auth {

class BasicCredentials final : public TokenSource {
 public:
  BasicCredentials(const std::string& username, const std::string& password);

  Task<Result<std::string, AuthError>> access_token() override;
  void reject(const std::string&) override {}  // a refused password stays refused: EWS says 401
  std::string_view scheme() const override { return "Basic"; }
  void set_password(const std::string& username, const std::string& password);

 private:
  std::string encoded_;
};

}  // namespace exsync::auth
