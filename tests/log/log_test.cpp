#include "exsync/log/log.hpp"

#include <gtest/gtest.h>

namespace exsync::log {
namespace {

TEST(LogTest, LogfmtQuotesValuesThatWouldBreakTheLine) {
  const auto line = render_fields(Format::logfmt, Level::warn, "sync.mailbox.failed",
                                  {{"mailbox", "a@b.com"}, {"message", "two words \"quoted\"\nnext"}, {"n", 3}, {"ok", false}});
  EXPECT_EQ(line,
            "level=warn event=sync.mailbox.failed mailbox=a@b.com message=\"two words \\\"quoted\\\"\\nnext\" n=3 ok=false");
}

TEST(LogTest, JsonEscapesControlCharacters) {
  const auto line = render_fields(Format::json, Level::info, "x.y", {{"s", "a\"b\\c\x01"}, {"n", -2}});
  EXPECT_EQ(line, R"("level":"info","event":"x.y","s":"a\"b\\c\u0001","n":-2})");
}

TEST(LogTest, EmptyValueIsQuotedInLogfmt) {
  EXPECT_EQ(render_fields(Format::logfmt, Level::info, "e", {{"code", ""}}), "level=info event=e code=\"\"");
}

TEST(LogTest, ParsesLevelsAndFormats) {
  Level l;
  Format f;
  EXPECT_TRUE(parse_level("warn", l));
  EXPECT_EQ(l, Level::warn);
  EXPECT_FALSE(parse_level("verbose", l));
  EXPECT_TRUE(parse_format("json", f));
  EXPECT_FALSE(parse_format("xml", f));
}

}  // namespace
}  // namespace exsync::log
