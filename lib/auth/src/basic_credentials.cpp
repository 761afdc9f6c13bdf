#include "exsync/auth/basic_credentials.hpp"

#include "exsync/crypto/base64.hpp"

namespace exsync::auth {
namespace {

std::string encode(const std::string& username, const std::string& password) {
  return crypto::base64_encode(username + ":" + password);
}

}  // namespace

BasicCredentials::BasicCredentials(const std::string& username, const std::string& password)
    : encoded_(encode(username, password)) {}

void BasicCredentials::set_password(const std::string& username, const std::string& password) {
  encoded_ = encode(username, password);
}

Task<Result<std::string, AuthError>> BasicCredentials::access_token() { co_return encoded_; }

}  // namespace exsync::auth
