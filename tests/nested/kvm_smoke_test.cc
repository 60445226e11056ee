// SPDX-License-Identifier: Apache-2.0
// Self-test of the KVM test runner (run_kvm_test.sh): proves that a kvm_test
// binary finds a working /dev/kvm, wherever the runner chose to run it (host
// or nested machine), and that gtest results come back to Bazel.
//
// Raw ioctls on purpose: this checks the test machinery, not microvm's KVM
// layer, so it must not depend on it.

#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

constexpr uint64_t kMemSize = 0x10000;
constexpr uint64_t kCodeAddr = 0x1000;

// Real-mode guest with five port I/O exits (four OUT, one IN whose value it
// echoes back), then hlt. No in-kernel irqchip, so hlt exits to user space.
constexpr uint8_t kGuest[] = {
    0xba, 0xf0, 0x03,  // mov dx, 0x3f0
    0xb0, 0x01,        // mov al, 1
    0xee,              // out dx, al
    0xfe, 0xc0,        // inc al
    0xee,              // out dx, al
    0xb8, 0x34, 0x12,  // mov ax, 0x1234
    0xe7, 0x80,        // out 0x80, ax
    0xe4, 0x81,        // in al, 0x81
    0xe6, 0x82,        // out 0x82, al
    0xf4,              // hlt
};

struct PioExit {
  uint8_t direction;
  uint16_t port;
  uint8_t size;
  uint32_t value;  // Written by the guest (OUT) or supplied to it (IN).

  bool operator==(const PioExit&) const = default;
};

void PrintTo(const PioExit& e, std::ostream* os) {
  *os << (e.direction == KVM_EXIT_IO_OUT ? "out" : "in") << " port 0x" << std::hex << e.port
      << " size " << std::dec << int{e.size} << " value 0x" << std::hex << e.value;
}

// Unmaps on scope exit.
struct Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) munmap(addr, size);
  }
};

TEST(KvmSmokeTest, DevKvmIsACharacterDeviceThatOpens) {
  struct stat st;
  ASSERT_EQ(stat("/dev/kvm", &st), 0) << "no /dev/kvm: " << strerror(errno);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  UniqueFd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(kvm.valid()) << "open /dev/kvm: " << strerror(errno);
  EXPECT_EQ(ioctl(kvm.get(), KVM_GET_API_VERSION, 0), KVM_API_VERSION);
}

TEST(KvmSmokeTest, GuestPioExitsArriveInOrderWithTheirData) {
  alarm(60);  // A hung KVM_RUN kills the test instead of the whole run.
  UniqueFd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(kvm.valid()) << "open /dev/kvm: " << strerror(errno);
  UniqueFd vm(ioctl(kvm.get(), KVM_CREATE_VM, 0));
  ASSERT_TRUE(vm.valid()) << "KVM_CREATE_VM: " << strerror(errno);
  ASSERT_EQ(ioctl(vm.get(), KVM_SET_TSS_ADDR, 0xfeffd000UL), 0) << strerror(errno);

  Mapping mem;
  mem.size = kMemSize;
  mem.addr = mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem.addr, MAP_FAILED) << strerror(errno);
  memcpy(static_cast<uint8_t*>(mem.addr) + kCodeAddr, kGuest, sizeof(kGuest));
  kvm_userspace_memory_region region = {};
  region.memory_size = kMemSize;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem.addr);
  ASSERT_EQ(ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region), 0) << strerror(errno);

  UniqueFd vcpu(ioctl(vm.get(), KVM_CREATE_VCPU, 0));
  ASSERT_TRUE(vcpu.valid()) << "KVM_CREATE_VCPU: " << strerror(errno);
  const int run_size = ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  ASSERT_GT(run_size, 0) << strerror(errno);
  Mapping run_map;
  run_map.size = run_size;
  run_map.addr = mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(), 0);
  ASSERT_NE(run_map.addr, MAP_FAILED) << strerror(errno);
  auto* run = static_cast<kvm_run*>(run_map.addr);

  kvm_sregs sregs;
  ASSERT_EQ(ioctl(vcpu.get(), KVM_GET_SREGS, &sregs), 0) << strerror(errno);
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  ASSERT_EQ(ioctl(vcpu.get(), KVM_SET_SREGS, &sregs), 0) << strerror(errno);
  kvm_regs regs = {};
  regs.rip = kCodeAddr;
  regs.rflags = 0x2;
  ASSERT_EQ(ioctl(vcpu.get(), KVM_SET_REGS, &regs), 0) << strerror(errno);

  constexpr uint8_t kInValue = 0x77;
  std::vector<PioExit> exits;
  bool halted = false;
  for (int i = 0; i < 16 && !halted; ++i) {
    ASSERT_EQ(ioctl(vcpu.get(), KVM_RUN, 0), 0) << "KVM_RUN: " << strerror(errno);
    switch (run->exit_reason) {
      case KVM_EXIT_HLT:
        halted = true;
        break;
      case KVM_EXIT_IO: {
        ASSERT_EQ(run->io.count, 1u);
        auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
        PioExit e{run->io.direction, run->io.port, run->io.size, 0};
        if (e.direction == KVM_EXIT_IO_IN) {
          memset(data, 0, e.size);
          data[0] = kInValue;
        }
        memcpy(&e.value, data, e.size);
        exits.push_back(e);
        break;
      }
      default:
        FAIL() << "unexpected exit reason " << run->exit_reason;
    }
  }
  alarm(0);

  EXPECT_TRUE(halted) << "guest did not reach hlt";
  const std::vector<PioExit> want = {
      {KVM_EXIT_IO_OUT, 0x3f0, 1, 0x01},    {KVM_EXIT_IO_OUT, 0x3f0, 1, 0x02},
      {KVM_EXIT_IO_OUT, 0x80, 2, 0x1234},   {KVM_EXIT_IO_IN, 0x81, 1, kInValue},
      {KVM_EXIT_IO_OUT, 0x82, 1, kInValue},
  };
  EXPECT_EQ(exits, want);

  ASSERT_EQ(ioctl(vcpu.get(), KVM_GET_REGS, &regs), 0) << strerror(errno);
  EXPECT_EQ(regs.rip, kCodeAddr + sizeof(kGuest)) << "rip should be just past hlt";
}

}  // namespace
}  // namespace microvm
