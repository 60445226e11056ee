// SPDX-License-Identifier: Apache-2.0
#include "tests/json.h"

#include <string>

#include "gtest/gtest.h"

namespace microvm::testing {
namespace {

TEST(JsonTest, ReadsWhatStatsJsonWrites) {
  std::string error;
  std::optional<Json> json = ParseJson(
      R"({"wall_seconds": 0.25, "exits": {"KVM_EXIT_IO": 12, "KVM_EXIT_HLT": 0},
          "ranges": [{"bus": "PIO", "device": "COM1", "reads": 1, "writes": 2},
                     {"bus": "MMIO", "device": null, "reads": 0, "writes": 3}],
          "name": "a\"b\\c\u0001", "ok": true, "bad": false, "dma": null}
)",
      &error);
  ASSERT_TRUE(json.has_value()) << error;
  EXPECT_DOUBLE_EQ((*json)["wall_seconds"].number, 0.25);
  EXPECT_EQ((*json)["exits"].Counts(),
            (std::map<std::string, uint64_t>{{"KVM_EXIT_HLT", 0}, {"KVM_EXIT_IO", 12}}));
  ASSERT_EQ((*json)["ranges"].array.size(), 2u);
  EXPECT_EQ((*json)["ranges"].array[0]["device"].string, "COM1");
  EXPECT_EQ((*json)["ranges"].array[0]["writes"].integer, 2u);
  EXPECT_TRUE((*json)["ranges"].array[1]["device"].is_null());
  EXPECT_EQ((*json)["name"].string, std::string("a\"b\\c\x01"));
  EXPECT_TRUE((*json)["ok"].boolean);
  EXPECT_EQ((*json)["bad"].kind, Json::Kind::kBool);
  EXPECT_FALSE((*json)["bad"].boolean);
  EXPECT_TRUE((*json)["dma"].is_null());
  // Missing members chain to null.
  EXPECT_TRUE((*json)["nothing"]["deeper"].is_null());
}

TEST(JsonTest, RejectsWhatIsNotOneValue) {
  for (const char* text : {"", "{", "[1,", "{\"a\" 1}", "{\"a\": 1} x", "\"open",
                           "nul", "{\"a\": -}", "[1 2]"}) {
    std::string error;
    EXPECT_FALSE(ParseJson(text, &error).has_value()) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
  // Deep nesting is refused, not a stack overflow.
  std::string error;
  EXPECT_FALSE(ParseJson(std::string(100000, '['), &error).has_value());
  EXPECT_NE(error.find("too deep"), std::string::npos) << error;
}

}  // namespace
}  // namespace microvm::testing
