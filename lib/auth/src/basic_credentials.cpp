#include "exsync/auth/basic_credentials.hpp"

#include <openssl/evp.h>

namespace exsync::auth {
namespace {

std::string encode(const std::string& username, const std::string& password) {
  const std::string raw = username + ":" + password;
  std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

BasicCredentials::BasicCredentials(const std::string& username, const std::string& password)
    : encoded_(encode(username, password)) {}

void BasicCredentials::set_password(const std::string& username, const std::string& password) {
  encoded_ = encode(username, password);
}

Task<Result<std::string, AuthError>> BasicCredentials::access_token() { co_return encoded_; }

}  // namespace exsync::auth
