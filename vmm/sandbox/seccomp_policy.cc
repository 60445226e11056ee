// SPDX-License-Identifier: Apache-2.0
// The allow-lists. One entry a line: the threads it is for, the call (and
// the argument it is limited to), when, and why microvm makes it. Anything
// not here ends microvm with one line naming the thread and the call
// (--seccomp=enforce) or is let through and logged by the kernel
// (--seccomp=log). A missing entry shows up as that line: add it here, with
// its reason, and only for the threads that make the call.
#include "vmm/sandbox/seccomp_policy.h"

#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>

#include "base/linux_uapi.h"

namespace microvm::sandbox {
namespace {

constexpr unsigned kVmm = 1u << static_cast<int>(ThreadKind::kVmm);
constexpr unsigned kVcpu = 1u << static_cast<int>(ThreadKind::kVcpu);
constexpr unsigned kDma = 1u << static_cast<int>(ThreadKind::kDma);
constexpr unsigned kAll = kVmm | kVcpu | kDma;

#define MVM_CALL(kinds, call, reason) \
  {kinds, SYS_##call, #call, ArgCheck::kAny, 0, When::kAlways, reason}
#define MVM_CALL_IF(kinds, call, check, value, when, reason) \
  {kinds, SYS_##call, #call, check, value, when, reason}
#define MVM_IOCTL(kinds, request, when, reason) \
  {kinds, SYS_ioctl, #request, ArgCheck::kIoctl, request, when, reason}

constexpr When kAlways = When::kAlways;
constexpr When kRestart = When::kRestart;

const Rule kRules[] = {
    // --- memory, threads, time: what the C++ runtime does on any thread --
    MVM_CALL(kAll, brk, "malloc"),
    MVM_CALL_IF(kAll, mmap, ArgCheck::kNoExec, 0, kAlways,
                "malloc; BAR regions mapped into the guest (never executable)"),
    MVM_CALL_IF(kAll, mprotect, ArgCheck::kNoExec, 0, kAlways,
                "malloc's heaps (never executable)"),
    MVM_CALL(kAll, munmap, "free; a BAR region unmapped as the guest moves it"),
    MVM_CALL(kAll, mremap, "realloc of large blocks"),
    MVM_CALL(kAll, madvise, "free (MADV_DONTNEED); a thread's stack at exit"),
    MVM_CALL(kAll, futex, "mutexes, condition variables, thread joins"),
    MVM_CALL(kAll, sched_yield, "Abseil's mutex spinning"),
    MVM_CALL(kAll, sched_getparam,
             "glibc reads a thread's scheduling parameters when it first "
             "needs them (pthread_create, pthread_getattr_np); read-only"),
    MVM_CALL(kAll, sched_getscheduler, "the same, for the policy"),
    MVM_CALL(kAll, nanosleep, "Abseil's mutex back-off"),
    MVM_CALL(kAll, clock_nanosleep, "sleeps (absl::SleepFor)"),
    MVM_CALL(kAll, clock_gettime, "clocks where the vDSO cannot serve them"),
    MVM_CALL(kAll, gettid, "the DMA thread's priority; thread ids"),
    MVM_CALL(kAll, getpid, "pthread_kill, raise"),
    MVM_CALL_IF(kAll, tgkill, ArgCheck::kOwnProcess, 0, kAlways,
                "kicking a vCPU out of KVM_RUN (pthread_kill); threads of "
                "microvm only"),
    MVM_CALL(kAll, rt_sigprocmask, "signal masks of threads"),
    MVM_CALL(kAll, rt_sigreturn, "return from the vCPU kick handler"),
    MVM_CALL(kAll, restart_syscall, "a sleep interrupted by a signal"),
    MVM_CALL(kAll, exit, "a thread ends"),
    MVM_CALL(kAll, exit_group, "microvm ends (also from the SIGSYS handler)"),
    // --- file descriptors already open -----------------------------------
    MVM_CALL(kAll, read, "eventfds, timerfds, signalfd, the console's input"),
    MVM_CALL(kAll, write,
             "the console, stderr, eventfds (an interrupt, a wake-up)"),
    MVM_CALL(kVmm | kVcpu, writev, "stdio writes of several buffers"),
    MVM_CALL(kVmm | kVcpu, pread64,
             "VFIO regions: config space, trapped BARs, the ROM"),
    MVM_CALL(kVmm | kVcpu, pwrite64,
             "VFIO regions: config space, trapped BARs, the MSI-X table"),
    MVM_CALL(kVmm | kVcpu, close,
             "eventfds and timers of interrupts the guest turns off; "
             "teardown"),
    MVM_CALL(kVmm | kVcpu, eventfd2,
             "irqfds, resamplefds and VFIO triggers for interrupts the guest "
             "turns on (no file is opened)"),
    MVM_CALL(kVmm | kVcpu, timerfd_create,
             "vfio-pci INTx's mmap-off timer; the shutdown timeout"),
    MVM_CALL(kVmm | kVcpu, timerfd_settime, "arming those timers"),
    MVM_CALL(kVmm | kVcpu, epoll_ctl,
             "the event loop watches interrupt fds the guest turns on"),
    MVM_CALL(kVmm, epoll_wait, "the event loop"),
    MVM_CALL(kVmm, epoll_pwait, "the event loop"),
    MVM_CALL(kVmm | kVcpu, poll,
             "whether a VFIO INTx or MSI-X vector is pending (the guest "
             "reads the PBA); stderr writable for microvm's lines"),
    MVM_CALL(kVmm | kVcpu, ppoll, "the same, where glibc uses ppoll"),
    MVM_CALL(kVmm | kVcpu, fstat, "stdio's first write to a stream"),
    MVM_CALL(kVmm | kVcpu, newfstatat,
             "stdio's first write to a stream (glibc 2.33+)"),
    MVM_CALL(kVmm, ftruncate, "--stats_json rewrites its file at exit"),
    MVM_CALL(kVmm, rt_sigpending, "a stop signal that came as a boot ended"),
    MVM_CALL(kAll, sched_getaffinity,
             "the CPUs a boot starts from; glibc's malloc counts CPUs when "
             "a thread first needs an arena of its own; read-only"),
    MVM_CALL(kAll, alarm,
             "the crash handler's watchdog (a crash must still be reported)"),
    MVM_CALL(kVmm, sched_setaffinity,
             "--cpu_affinity: the event loop pins itself, a restart's vCPU "
             "threads before their own filter; a restart restores the "
             "boot's CPUs"),
    // --- threads made after the VMM thread's filter ----------------------
    MVM_CALL_IF(kVmm, clone, ArgCheck::kThread, 0, kAlways,
                "the DMA thread (--dma_map=overlap) and a restart's vCPU "
                "threads; threads only, never a process"),
    MVM_CALL_IF(kVmm, clone3, ArgCheck::kFailNoSys, 0, kAlways,
                "fails with ENOSYS: glibc then uses clone, whose flags the "
                "filter sees (clone3's are behind a pointer)"),
    MVM_CALL(kVmm, set_robust_list, "a new thread's start (glibc)"),

    MVM_CALL(kAll, rt_sigaction,
             "a crash's report on any thread (Abseil's failure handler arms "
             "SIGALRM, then restores the default action); glibc's own "
             "handlers at the first pthread_create; a restart's vCPU kick "
             "handler"),
    MVM_CALL(kVmm, rseq, "a new thread's start (glibc 2.35+)"),
    MVM_CALL(kVmm, setpriority,
             "the DMA thread lowers its own priority (nice 19) before its "
             "own filter"),
    MVM_CALL_IF(kVmm, prctl, ArgCheck::kOption, PR_SET_NO_NEW_PRIVS, kAlways,
                "a new thread sets it before its own filter (already set)"),
    MVM_CALL_IF(kVmm, prctl, ArgCheck::kOption, PR_SET_NAME, kAlways,
                "a new thread names itself (vcpuN, dma) for ps -L and top"),
    MVM_CALL_IF(kVmm, seccomp, ArgCheck::kFilterNoFlags, 0, kAlways,
                "a new thread adds its own filter (filters only ever narrow)"),
    // --- KVM: the vCPU's run loop and what the guest's device accesses do -
    MVM_IOCTL(kVmm | kVcpu, KVM_RUN, kAlways, "running the guest"),
    MVM_IOCTL(kVmm | kVcpu, KVM_GET_REGS, kAlways,
              "a failed run's error names RIP"),
    MVM_IOCTL(kVmm | kVcpu, KVM_GET_SREGS, kAlways,
              "a failed run's error reads the instruction bytes at RIP"),
    MVM_IOCTL(kVmm | kVcpu, KVM_IRQ_LINE, kAlways,
              "emulated devices' interrupt lines (serial, PCI INTx, SCI)"),
    MVM_IOCTL(kVmm | kVcpu, KVM_SIGNAL_MSI, kAlways,
              "an MSI of an emulated device"),
    MVM_IOCTL(kVmm | kVcpu, KVM_SET_GSI_ROUTING, kAlways,
              "the guest programs an MSI or MSI-X vector"),
    MVM_IOCTL(kVmm | kVcpu, KVM_IRQFD, kAlways,
              "an interrupt the guest turns on or off goes to or from KVM"),
    MVM_IOCTL(kVmm | kVcpu, KVM_IOEVENTFD, kAlways,
              "a doorbell follows its BAR when the guest moves it"),
    MVM_IOCTL(kVmm | kVcpu, KVM_SET_USER_MEMORY_REGION, kAlways,
              "a BAR mapped into the guest follows the guest's BAR writes "
              "and memory-decode bit"),
    // --- VFIO: what the guest's config and MSI-X writes do to the device -
    MVM_IOCTL(kVmm | kVcpu, VFIO_DEVICE_SET_IRQS, kAlways,
              "the guest turns INTx, MSI or MSI-X on, off, masks a vector; "
              "INTx unmask"),
    MVM_IOCTL(kVmm | kVcpu, VFIO_DEVICE_GET_IRQ_INFO, kAlways,
              "how many vectors a device offers, when the guest enables them"),
    MVM_IOCTL(kVmm | kVcpu, VFIO_DEVICE_RESET, kAlways,
              "a function reset the guest asks for; teardown and restart"),
    MVM_IOCTL(kVmm | kVcpu | kDma, VFIO_IOMMU_MAP_DMA, kAlways,
              "pinning guest RAM for DMA (DMA thread, or a vCPU whose device "
              "cannot wait for it)"),
    MVM_IOCTL(kVmm | kVcpu | kDma, VFIO_IOMMU_UNMAP_DMA, kAlways,
              "a mapping that failed part-way is undone by the last thread "
              "out (all of guest RAM or none); teardown"),
    // --- VFIO: devices set up while the guest boots (--dma_map=overlap),
    // over the container and group nodes opened before it started --------
    MVM_IOCTL(kVmm, VFIO_CHECK_EXTENSION, kAlways, "the IOMMU model"),
    MVM_IOCTL(kVmm, VFIO_GROUP_GET_STATUS, kAlways, "a group is viable"),
    MVM_IOCTL(kVmm, VFIO_GROUP_SET_CONTAINER, kAlways,
              "a group joins the container"),
    MVM_IOCTL(kVmm, VFIO_SET_IOMMU, kAlways, "the container's type1 IOMMU"),
    MVM_IOCTL(kVmm, VFIO_IOMMU_GET_INFO, kAlways,
              "IOVA ranges and page sizes for DMA mapping"),
    MVM_IOCTL(kVmm, VFIO_GROUP_GET_DEVICE_FD, kAlways,
              "a device's fd, from its group's (no file is opened)"),
    MVM_IOCTL(kVmm, VFIO_DEVICE_GET_INFO, kAlways, "a device's regions, IRQs"),
    MVM_IOCTL(kVmm, VFIO_DEVICE_GET_REGION_INFO, kAlways,
              "a region's size, offset, mmap-ability, MSI-X hole"),
    MVM_IOCTL(kVmm, VFIO_GROUP_UNSET_CONTAINER, kAlways, "teardown"),
    MVM_IOCTL(kVmm, TCSETS, kAlways,
              "the terminal's mode restored at exit (raw console input)"),
    // --- --on_reboot=restart: the next boot is built on the VMM thread,
    // over the /dev/kvm and kernel/initrd fds kept open from the first ----
    MVM_CALL_IF(kVmm, epoll_create1, ArgCheck::kAny, 0, kRestart,
                "the next boot's event loop"),
    MVM_CALL_IF(kVmm, signalfd4, ArgCheck::kAny, 0, kRestart,
                "the next boot watches SIGINT, SIGTERM, SIGUSR1"),
    MVM_IOCTL(kVmm, TCGETS, kRestart, "the next boot's console input mode"),
    MVM_IOCTL(kVmm, KVM_CHECK_EXTENSION, kRestart, "the next boot's checks"),
    MVM_IOCTL(kVmm, KVM_CREATE_VM, kRestart, "the next boot's VM"),
    MVM_IOCTL(kVmm, KVM_GET_VCPU_MMAP_SIZE, kRestart, "its vCPUs' run areas"),
    MVM_IOCTL(kVmm, KVM_GET_SUPPORTED_CPUID, kRestart, "its CPUID"),
    MVM_IOCTL(kVmm, KVM_SET_TSS_ADDR, kRestart, "its platform"),
    MVM_IOCTL(kVmm, KVM_SET_IDENTITY_MAP_ADDR, kRestart, "its platform"),
    MVM_IOCTL(kVmm, KVM_CREATE_IRQCHIP, kRestart, "its IOAPIC and PIC"),
    MVM_IOCTL(kVmm, KVM_CREATE_PIT2, kRestart, "its PIT"),
    MVM_IOCTL(kVmm, KVM_ENABLE_CAP, kRestart, "its KVM capabilities"),
    MVM_IOCTL(kVmm, KVM_CREATE_VCPU, kRestart, "its vCPUs"),
    MVM_IOCTL(kVmm, KVM_GET_STATS_FD, kRestart, "its vCPUs' statistics"),
    MVM_IOCTL(kVmm, KVM_SET_CPUID2, kRestart, "its vCPUs' CPUID"),
    MVM_IOCTL(kVmm, KVM_SET_MSRS, kRestart, "its vCPUs' MSRs"),
    MVM_IOCTL(kVmm, KVM_SET_REGS, kRestart, "its vCPUs' registers"),
    MVM_IOCTL(kVmm, KVM_SET_SREGS, kRestart, "its vCPUs' long mode"),
    MVM_IOCTL(kVmm, KVM_SET_FPU, kRestart, "its vCPUs' FPU"),
    MVM_IOCTL(kVmm, KVM_GET_LAPIC, kRestart, "its vCPUs' LINT0/LINT1"),
    MVM_IOCTL(kVmm, KVM_SET_LAPIC, kRestart, "its vCPUs' LINT0/LINT1"),
};

// A sanitizer runtime's own calls (--config=asan/ubsan builds only; the
// release has none of them): reports read /proc/self/maps, and
// LeakSanitizer's check at exit stops the threads with ptrace from a task
// it clones.
const Rule kSanitizerRules[] = {
    MVM_CALL(kAll, open, "sanitizer: /proc/self/maps, /proc/self/task"),
    MVM_CALL(kAll, openat, "sanitizer: /proc/self/maps for a report"),
    MVM_CALL(kAll, getdents, "LeakSanitizer: /proc/self/task"),
    MVM_CALL(kAll, readlink, "sanitizer: the program's path"),
    MVM_CALL(kAll, getdents64, "sanitizer: /proc/self/task"),
    MVM_CALL(kAll, lseek, "sanitizer: reading /proc files"),
    MVM_CALL(kAll, fstat, "sanitizer: reading /proc files"),
    MVM_CALL(kAll, newfstatat, "sanitizer: reading /proc files"),
    MVM_CALL(kAll, close, "sanitizer: reading /proc files"),
    MVM_CALL(kAll, clone, "LeakSanitizer: its tracer task"),
    MVM_CALL(kAll, ptrace, "LeakSanitizer: stopping the threads"),
    MVM_CALL(kAll, wait4, "LeakSanitizer: its tracer task"),
    MVM_CALL(kAll, prctl, "LeakSanitizer: PR_SET_PTRACER, dumpable"),
    MVM_CALL(kAll, sigaltstack, "sanitizer: its signal stack"),
    MVM_CALL(kAll, rt_sigaction, "sanitizer: its handlers"),
    MVM_CALL(kAll, getppid, "LeakSanitizer: its tracer task"),
    MVM_CALL(kAll, prlimit64, "sanitizer: stack limits"),
    MVM_CALL(kAll, getrlimit, "sanitizer: stack limits"),
    MVM_CALL(kAll, setrlimit, "sanitizer: core dumps off"),
    MVM_CALL(kAll, uname, "sanitizer: kernel version"),
    MVM_CALL(kAll, pipe2, "sanitizer: symbolizer"),
    MVM_CALL(kAll, kill, "sanitizer"),
    MVM_CALL(kAll, tgkill, "LeakSanitizer's tracer task signals threads"),
};

#undef MVM_CALL
#undef MVM_CALL_IF
#undef MVM_IOCTL

}  // namespace

absl::string_view ThreadKindName(ThreadKind kind) {
  switch (kind) {
    case ThreadKind::kVmm: return "vmm";
    case ThreadKind::kVcpu: return "vcpu";
    case ThreadKind::kDma: return "dma";
  }
  return "?";
}

std::vector<Rule> RulesFor(ThreadKind kind, const PolicyOptions& options) {
  const unsigned bit = 1u << static_cast<int>(kind);
  std::vector<Rule> rules;
  for (const Rule& r : kRules) {
    if ((r.kinds & bit) == 0) continue;
    if (r.when == When::kRestart && !options.restart) continue;
    rules.push_back(r);
  }
  if (options.sanitizer) {
    for (const Rule& r : kSanitizerRules) {
      if (r.kinds & bit) rules.push_back(r);
    }
  }
  return rules;
}

bool BuiltWithSanitizer() {
#ifdef MICROVM_SANITIZER
  return true;
#else
  return false;
#endif
}

}  // namespace microvm::sandbox
