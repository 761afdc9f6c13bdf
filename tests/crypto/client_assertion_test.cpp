// Client assertions for app-only sign-in with a certificate: what Entra ID checks in them.
#include "exsync/crypto/client_assertion.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "exsync/crypto/base64.hpp"

namespace exsync::crypto {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::vector<std::string> parts(const std::string& jwt) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (auto dot = jwt.find('.'); dot != std::string::npos; dot = jwt.find('.', from = dot + 1))
    out.push_back(jwt.substr(from, dot - from));
  out.push_back(jwt.substr(from));
  return out;
}

json::object decoded(const std::string& part) { return json::parse(*base64url_decode(part)).as_object(); }

class ClientAssertionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pem_ = new PemCertificate(*generate_client_certificate("exsync app", 24h * 365)); }
  static void TearDownTestSuite() { delete pem_; }
  static PemCertificate* pem_;
};
PemCertificate* ClientAssertionTest::pem_ = nullptr;

TEST_F(ClientAssertionTest, TheAssertionNamesTheCertificateTheClientAndTheTokenEndpoint) {
  auto cert = ClientCertificate::from_pem(pem_->certificate, pem_->private_key);
  ASSERT_TRUE(cert) << cert.error().message;
  EXPECT_EQ(cert->thumbprint().size(), 43u) << "base64url of a SHA-256 digest, unpadded";
  EXPECT_GT(cert->not_after(), std::chrono::system_clock::now() + 24h * 364);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'790'000'000));
  const std::string url = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
  auto jwt = cert->assertion("6731de76-14a6-49ae-97bc-6eba6914391e", url, now);
  ASSERT_TRUE(jwt) << jwt.error().message;
  const auto p = parts(*jwt);
  ASSERT_EQ(p.size(), 3u);
  const auto header = decoded(p[0]);
  EXPECT_EQ(header.at("alg"), "RS256");
  EXPECT_EQ(header.at("x5t#S256").as_string(), cert->thumbprint());
  const auto claims = decoded(p[1]);
  EXPECT_EQ(claims.at("aud").as_string(), url);
  EXPECT_EQ(claims.at("iss"), "6731de76-14a6-49ae-97bc-6eba6914391e");
  EXPECT_EQ(claims.at("sub"), "6731de76-14a6-49ae-97bc-6eba6914391e");
  EXPECT_EQ(claims.at("nbf").as_int64(), 1'790'000'000);
  EXPECT_EQ(claims.at("exp").as_int64(), 1'790'000'600);
  EXPECT_EQ(base64url_decode(p[2])->size(), 256u) << "an RSA 2048 signature";
  auto again = cert->assertion("6731de76-14a6-49ae-97bc-6eba6914391e", url, now);
  EXPECT_NE(decoded(parts(*again)[1]).at("jti"), claims.at("jti")) << "each assertion is unique";
}

TEST_F(ClientAssertionTest, AKeyThatIsNotTheCertificatesOrNotRsaIsRefused) {
  const auto other = *generate_client_certificate("another app", 24h);
  auto mismatch = ClientCertificate::from_pem(pem_->certificate, other.private_key);
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("does not belong to the certificate"), std::string::npos)
      << mismatch.error().message;
  // The simulator's TLS keys are ECDSA: not usable for RS256.
  const auto ec = *generate_local_pki("ca", ServerIdentity{});
  auto not_rsa = ClientCertificate::from_pem(ec.server.certificate, ec.server.private_key);
  ASSERT_FALSE(not_rsa);
  EXPECT_NE(not_rsa.error().message.find("not an RSA key"), std::string::npos) << not_rsa.error().message;
  EXPECT_FALSE(ClientCertificate::from_pem("not a certificate", pem_->private_key));
  auto no_key = ClientCertificate::from_pem(pem_->certificate, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("private key"), std::string::npos);
}

}  // namespace
}  // namespace exsync::crypto
