// SPDX-License-Identifier: Apache-2.0
#include "pci/intx.h"

#include <memory>

#include "gtest/gtest.h"
#include "pci/testing.h"

namespace microvm::pci {
namespace {

using testing::FakeIrqLine;

TEST(SharedIrqLineTest, IsTheOrOfItsSources) {
  auto owned = std::make_unique<FakeIrqLine>(17);
  FakeIrqLine* line = owned.get();
  SharedIrqLine shared(std::move(owned));
  EXPECT_EQ(shared.gsi(), 17u);
  auto a = shared.NewSource();
  auto b = shared.NewSource();
  EXPECT_EQ(a->gsi(), 17u);

  a->Set(true);
  EXPECT_TRUE(line->high());
  b->Set(true);
  a->Set(false);
  EXPECT_TRUE(line->high());  // b still asserts
  a->Set(false);              // repeated level: no effect
  b->Set(false);
  EXPECT_FALSE(line->high());
  EXPECT_EQ(line->sets(), 2);  // one rise, one fall

  // A source that goes away releases the line.
  b->Set(true);
  b.reset();
  EXPECT_FALSE(line->high());
}

TEST(SharedIrqLineTest, SourcesOutliveTheSharedObject) {
  std::unique_ptr<IrqLine> source;
  {
    SharedIrqLine shared(std::make_unique<FakeIrqLine>(16));
    source = shared.NewSource();
  }
  source->Set(true);
  EXPECT_EQ(source->gsi(), 16u);
}

}  // namespace
}  // namespace microvm::pci
