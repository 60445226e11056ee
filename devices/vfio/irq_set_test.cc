// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/irq_set.h"

#include "gtest/gtest.h"

namespace microvm::vfio {
namespace {

TEST(IrqSetTest, EventFdsCarryOneFdPerVector) {
  const int32_t fds[] = {7, -1, 9};
  IrqSet set = IrqSet::EventFds(VFIO_IRQ_SET_ACTION_TRIGGER,
                                VFIO_PCI_MSIX_IRQ_INDEX, 2, fds);
  EXPECT_EQ(set.get()->argsz, sizeof(vfio_irq_set) + 3 * sizeof(int32_t));
  EXPECT_EQ(set.get()->flags,
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
  EXPECT_EQ(set.get()->index, VFIO_PCI_MSIX_IRQ_INDEX);
  EXPECT_EQ(set.get()->start, 2u);
  EXPECT_EQ(set.get()->count, 3u);
  ASSERT_EQ(set.fds().size(), 3u);
  EXPECT_EQ(set.fds()[0], 7);
  EXPECT_EQ(set.fds()[1], -1);
  EXPECT_EQ(set.fds()[2], 9);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(set.get()) % 8, 0u);
}

TEST(IrqSetTest, DisableIsTriggerWithNoData) {
  IrqSet set = IrqSet::None(VFIO_IRQ_SET_ACTION_TRIGGER,
                            VFIO_PCI_MSI_IRQ_INDEX, 0, 0);
  EXPECT_EQ(set.get()->argsz, sizeof(vfio_irq_set));
  EXPECT_EQ(set.get()->flags,
            VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
  EXPECT_EQ(set.get()->count, 0u);
  EXPECT_TRUE(set.fds().empty());
}

TEST(IrqSetTest, UnmaskViaEventFd) {
  const int32_t fd[] = {11};
  IrqSet set = IrqSet::EventFds(VFIO_IRQ_SET_ACTION_UNMASK,
                                VFIO_PCI_INTX_IRQ_INDEX, 0, fd);
  EXPECT_EQ(set.get()->flags,
            VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK);
  EXPECT_EQ(set.get()->count, 1u);
  EXPECT_EQ(set.fds()[0], 11);
}

}  // namespace
}  // namespace microvm::vfio
