// kvm_probe: decides whether this machine's /dev/kvm can run microvm's tests.
//
// Opens /dev/kvm, checks the API version and every capability microvm relies
// on, then creates a VM with an in-kernel irqchip and one vCPU and runs a few
// bytes of real-mode code (`out 0x80, al; hlt`) under an alarm. Prints one
// line: "kvm-probe: ok" or what is missing, and exits 0 only when everything
// works. The KVM test runner (run_kvm_test.sh) uses it to choose between the
// host's /dev/kvm and the nested machine.
//
// Standalone on purpose (raw ioctls, no project libraries): it must be
// trustworthy even when the code under test is broken.

#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace {

// Fails the probe with one line and a non-zero exit.
[[noreturn]] void Fail(const std::string& what) {
  fprintf(stdout, "kvm-probe: %s\n", what.c_str());
  fflush(stdout);
  _exit(1);
}

std::string Errno(const char* what) { return std::string(what) + ": " + strerror(errno); }

void OnAlarm(int) {
  static const char kMsg[] = "kvm-probe: guest did not exit within 10 s (KVM_RUN hung)\n";
  ssize_t ignored = write(STDOUT_FILENO, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  _exit(1);
}

struct Cap {
  int id;
  const char* name;
};

// What microvm needs from KVM (vmm/ checks the same list at start-up).
constexpr Cap kCaps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IRQFD_RESAMPLE, "KVM_CAP_IRQFD_RESAMPLE"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

constexpr uint64_t kGuestMemSize = 0x10000;
constexpr uint64_t kCodeAddr = 0x1000;
constexpr uint16_t kPort = 0x80;
constexpr uint8_t kValue = 0x5a;

}  // namespace

int main() {
  const char* path = "/dev/kvm";
  int kvm = open(path, O_RDWR | O_CLOEXEC);
  if (kvm < 0) Fail(Errno("cannot open /dev/kvm"));

  int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) {
    Fail("KVM_GET_API_VERSION is " + std::to_string(api) + ", need " +
         std::to_string(KVM_API_VERSION));
  }

  std::string missing;
  for (const Cap& cap : kCaps) {
    if (ioctl(kvm, KVM_CHECK_EXTENSION, cap.id) <= 0) {
      missing += missing.empty() ? "" : " ";
      missing += cap.name;
    }
  }
  if (!missing.empty()) Fail("missing capabilities: " + missing);

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) Fail(Errno("KVM_CREATE_VM"));
  // Intel VMX needs the TSS pages placed before the first KVM_RUN; the
  // address is microvm's (memory/layout.h: KVM TSS at 0xFEFFD000).
  if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfeffd000UL) < 0) Fail(Errno("KVM_SET_TSS_ADDR"));
  if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) Fail(Errno("KVM_CREATE_IRQCHIP"));

  void* mem = mmap(nullptr, kGuestMemSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) Fail(Errno("mmap of guest memory"));
  // Real mode: mov al, kValue; out kPort, al; hlt.
  const uint8_t code[] = {0xb0, kValue, 0xe6, static_cast<uint8_t>(kPort), 0xf4};
  memcpy(static_cast<uint8_t*>(mem) + kCodeAddr, code, sizeof(code));

  kvm_userspace_memory_region region = {};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kGuestMemSize;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem);
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
    Fail(Errno("KVM_SET_USER_MEMORY_REGION"));
  }

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) Fail(Errno("KVM_CREATE_VCPU"));
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) Fail(Errno("KVM_GET_VCPU_MMAP_SIZE"));
  auto* run =
      static_cast<kvm_run*>(mmap(nullptr, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
  if (run == MAP_FAILED) Fail(Errno("mmap of kvm_run"));

  kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) Fail(Errno("KVM_GET_SREGS"));
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) Fail(Errno("KVM_SET_SREGS"));
  kvm_regs regs = {};
  regs.rip = kCodeAddr;
  regs.rflags = 0x2;  // Bit 1 is reserved and must be set (SDM vol. 1 3.4.3).
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) Fail(Errno("KVM_SET_REGS"));

  signal(SIGALRM, OnAlarm);
  alarm(10);

  // First exit: the `out`. With an in-kernel irqchip, `hlt` stays in the
  // kernel (the vCPU sleeps waiting for an interrupt), so the probe stops
  // after checking the I/O exit rather than waiting for KVM_EXIT_HLT.
  if (ioctl(vcpu, KVM_RUN, 0) < 0) Fail(Errno("KVM_RUN"));
  if (run->exit_reason != KVM_EXIT_IO) {
    Fail("first exit reason is " + std::to_string(run->exit_reason) + ", expected KVM_EXIT_IO (" +
         std::to_string(KVM_EXIT_IO) + ")");
  }
  const uint8_t value = *(reinterpret_cast<uint8_t*>(run) + run->io.data_offset);
  if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != kPort || run->io.size != 1 ||
      value != kValue) {
    Fail("guest I/O exit has wrong contents (port " + std::to_string(run->io.port) + ", value " +
         std::to_string(value) + ")");
  }
  // Re-enter once with immediate_exit set: must return EINTR without running
  // the guest (KVM_CAP_IMMEDIATE_EXIT; Documentation/virt/kvm/api.rst, struct kvm_run,
  // "immediate_exit").
  run->immediate_exit = 1;
  if (ioctl(vcpu, KVM_RUN, 0) == 0 || errno != EINTR) {
    Fail("KVM_RUN with immediate_exit did not return EINTR");
  }
  alarm(0);

  printf("kvm-probe: ok (API %d, all %zu capabilities, guest ran)\n", api,
         sizeof(kCaps) / sizeof(kCaps[0]));
  return 0;
}
