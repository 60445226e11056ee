// SPDX-License-Identifier: Apache-2.0
// IrqRouter on real KVM: MSI routes up to KVM's limit, and what a rejected
// routing table leaves behind (nothing: the routes in use keep working).
#include "vmm/irq_router.h"

#include <sys/resource.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/kvm/kvm.h"
#include "vmm/platform.h"

namespace microvm {
namespace {

TEST(IrqRouterTest, FullRoutingTableLeavesTheRoutesInUseWorking) {
  absl::StatusOr<Kvm> kvm = Kvm::Open();
  ASSERT_TRUE(kvm.ok()) << kvm.status();
  absl::StatusOr<KvmVm> vm = KvmVm::Create(*kvm);
  ASSERT_TRUE(vm.ok()) << vm.status();
  absl::StatusOr<std::unique_ptr<IrqRouter>> irqs = CreateX86Platform(*kvm, *vm);
  ASSERT_TRUE(irqs.ok()) << irqs.status();

  // Each vector holds an eventfd: more than the usual 1024 fds. Root (the
  // nested machine) may raise the hard limit; others get what it allows.
  rlimit fds{16384, 16384};
  if (setrlimit(RLIMIT_NOFILE, &fds) != 0 && getrlimit(RLIMIT_NOFILE, &fds) == 0) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);
  }

  // KVM takes at most KVM_MAX_IRQ_ROUTES (4096) entries per table, the
  // PIC/IOAPIC ones included: allocating vectors must end in an error, not
  // in a table KVM refuses from then on.
  std::vector<std::unique_ptr<MsiVector>> vectors;
  absl::Status refused;
  while (vectors.size() < 8192) {
    absl::StatusOr<std::unique_ptr<MsiVector>> v = (*irqs)->AllocateMsi();
    if (!v.ok()) {
      refused = v.status();
      break;
    }
    vectors.push_back(std::move(*v));
  }
  ASSERT_FALSE(refused.ok()) << "KVM took " << vectors.size() << " MSI routes";
  // KVM's refusal, not an fd limit (raise `ulimit -Hn` if this says EMFILE).
  ASSERT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  std::printf("%zu MSI routes, then: %s\n", vectors.size(),
              refused.ToString().c_str());
  EXPECT_EQ((*irqs)->msi_routes(), vectors.size());

  // The routes in use still change, fire and go.
  EXPECT_TRUE(vectors.front()->SetMessage(0xfee00000, 0x41).ok());
  EXPECT_TRUE(vectors.back()->SetMessage(0xfee00000, 0x42).ok());
  EXPECT_TRUE(vectors.back()->SetEnabled(true).ok());
  vectors.back()->Trigger();
  vectors.pop_back();
  EXPECT_EQ((*irqs)->msi_routes(), vectors.size());
  absl::StatusOr<std::unique_ptr<MsiVector>> again = (*irqs)->AllocateMsi();
  EXPECT_TRUE(again.ok()) << again.status();
}

}  // namespace
}  // namespace microvm
