#include "exsync/core/mailbox_address.hpp"

#include <gtest/gtest.h>

namespace exsync {
namespace {

TEST(MailboxAddressTest, AcceptsExchangePrimarySmtpAddresses) {
  for (const char* a : {"agent1@contoso.com", "jane.o'neil@sub.contoso.co.uk", "a+crm@x-y.example", "A@B.CO"})
    EXPECT_EQ(mailbox_address_problem(a), std::nullopt) << a;
}

TEST(MailboxAddressTest, RefusesWhatExchangeNeverAssigns) {
  for (const char* a : {"", "agent1", "@contoso.com", "agent1@", "agent1@localhost", "a..b@contoso.com",
                        ".a@contoso.com", "a b@contoso.com", "a@-contoso.com", "a@contoso..com", "a<b>@contoso.com",
                        "\"quoted\"@contoso.com", "a@[127.0.0.1]"})
    EXPECT_NE(mailbox_address_problem(a), std::nullopt) << a;
}

TEST(MailboxAddressTest, NormalisesToLowerCase) {
  EXPECT_EQ(normalize_mailbox_address("Agent1@Contoso.COM"), "agent1@contoso.com");
}

}  // namespace
}  // namespace exsync
