// SPDX-License-Identifier: Apache-2.0
#include "vmm/vcpu.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "vmm/x86/long_mode.h"

namespace microvm {
namespace {

// Interrupts KVM_RUN on a vCPU thread (EINTR) without doing anything else.
int KickSignal() { return SIGRTMIN; }

void NoOpHandler(int) {}

const char* ExitName(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "KVM_EXIT_IRQ_WINDOW_OPEN";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
    default: return "unknown exit";
  }
}

}  // namespace

absl::Status VcpuThread::InstallKickHandler() {
  struct sigaction sa {};
  sa.sa_handler = NoOpHandler;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: KVM_RUN must return EINTR.
  if (::sigaction(KickSignal(), &sa, nullptr) != 0) {
    return LastErrnoError("installing the vCPU kick signal handler");
  }
  return absl::OkStatus();
}

VcpuThread::VcpuThread(std::unique_ptr<KvmVcpu> vcpu, const Bus& pio,
                       const Bus& mmio, const GuestMemory& mem, OnEnd on_end)
    : vcpu_(std::move(vcpu)),
      pio_(pio),
      mmio_(mmio),
      mem_(mem),
      on_end_(std::move(on_end)) {}

VcpuThread::~VcpuThread() {
  Stop();
  Join();
}

void VcpuThread::Start() {
  thread_ = std::thread([this] { Loop(); });
  // After thread_ is set: Stop() from another thread reads it only once it
  // sees started_ (seq_cst store and load).
  started_ = true;
}

void VcpuThread::Stop() {
  stop_ = true;
  // immediate_exit closes the race with a kick that lands before KVM_RUN
  // (KVM API: KVM_CAP_IMMEDIATE_EXIT).
  __atomic_store_n(&vcpu_->run()->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (started_ && thread_.joinable()) {
    ::pthread_kill(thread_.native_handle(), KickSignal());
  }
}

void VcpuThread::Join() {
  if (thread_.joinable()) thread_.join();
}

namespace {

// Adds to a counter only one thread writes: no locked instruction.
template <typename T>
void Add(std::atomic<T>& counter, T n) {
  counter.store(counter.load(std::memory_order_relaxed) + n,
                std::memory_order_relaxed);
}
void Bump(std::atomic<uint64_t>& counter) { Add<uint64_t>(counter, 1); }

int64_t ThreadCpuNanos(clockid_t clock) {
  timespec ts;
  if (::clock_gettime(clock, &ts) != 0) return -1;
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

absl::Status PinThisThread(int cpu, const std::string& who) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int err = ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
  if (err != 0) {
    return ErrnoError(err, absl::StrCat("--cpu_affinity: pinning ", who,
                                        " to host CPU ", cpu));
  }
  return absl::OkStatus();
}

void VcpuThread::Loop() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, KickSignal());
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  // Published for cpu_time(), which other threads call.
  if (::pthread_getcpuclockid(::pthread_self(), &cpu_clock_) == 0) {
    has_cpu_clock_.store(true, std::memory_order_release);
  }
  // "vcpu<N>" in ps -L, top -H and /proc/PID/task/*/comm (bench/ counts the
  // wake-ups of every other thread). Named by itself: naming another thread
  // opens a /proc file, which the sandbox does not allow once the guest runs.
  const std::string name = absl::StrCat("vcpu", vcpu_->id());
  (void)::pthread_setname_np(::pthread_self(), name.c_str());
  if (affinity_.has_value()) {
    absl::Status pinned =
        PinThisThread(*affinity_, absl::StrCat("vCPU ", vcpu_->id()));
    if (!pinned.ok()) {
      on_end_(pinned);
      return;
    }
  }
  if (on_start_) {
    absl::Status started = on_start_();
    if (!started.ok()) {
      on_end_(started);
      return;
    }
  }
  first_run_ns_.store(
      std::chrono::steady_clock::now().time_since_epoch().count(),
      std::memory_order_relaxed);
  entering_.Notify();
  if (time_exits_) {
    // --boot_timer: the same loop with the time from each KVM_RUN's return
    // to the next call summed (two vDSO clock reads per exit, so only when
    // asked for).
    while (!stop_) {
      const long r = vcpu_->Run();
      const auto returned = std::chrono::steady_clock::now();
      const bool keep = AfterRun(r);
      Add(handling_ns_, (std::chrono::steady_clock::now() - returned).count());
      if (!keep) break;
    }
  } else {
    while (!stop_) {
      if (!AfterRun(vcpu_->Run())) break;
    }
  }
  final_cpu_ns_.store(ThreadCpuNanos(CLOCK_THREAD_CPUTIME_ID),
                      std::memory_order_release);
}

inline bool VcpuThread::AfterRun(long r) {
  if (r < 0) {
    if (r == -EINTR || r == -EAGAIN) {
      Bump(exits_[KVM_EXIT_INTR]);
      return true;
    }
    on_end_(ErrnoError(static_cast<int>(-r),
                       absl::StrCat("KVM_RUN on vCPU ", vcpu_->id())));
    return false;
  }
  Bump(exits_[std::min<size_t>(vcpu_->run()->exit_reason, kExitReasons - 1)]);
  return HandleExit();
}

std::optional<absl::Duration> VcpuThread::handling_time() const {
  if (!time_exits_) return std::nullopt;
  return absl::Nanoseconds(handling_ns_.load(std::memory_order_relaxed));
}

std::vector<VmStats::Count> VcpuThread::exit_counts() const {
  std::vector<VmStats::Count> counts;
  for (size_t i = 0; i < kExitReasons; ++i) {
    const uint64_t n = exits_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    std::string name = ExitName(static_cast<uint32_t>(i));
    if (i == kExitReasons - 1) {
      name = "KVM_EXIT_OTHER";
    } else if (name == "unknown exit") {
      name = absl::StrCat("KVM_EXIT_", i);  // one key per reason in the JSON
    }
    counts.push_back({std::move(name), n});
  }
  return counts;
}

absl::Duration VcpuThread::cpu_time() const {
  int64_t ns = final_cpu_ns_.load(std::memory_order_acquire);
  if (ns < 0 && has_cpu_clock_.load(std::memory_order_acquire)) {
    // Still running (or just ended: then its clock is gone and the value it
    // stored is there). The clock the thread published itself: any thread
    // may ask (the boot timer's report runs on a vCPU), none touches
    // thread_, which Join() may be joining.
    ns = ThreadCpuNanos(cpu_clock_);
    if (ns < 0) ns = final_cpu_ns_.load(std::memory_order_acquire);
  }
  return absl::Nanoseconds(std::max<int64_t>(ns, 0));
}

std::vector<VmStats::Count> VcpuThread::kvm_counts() const {
  static constexpr const char* kWanted[] = {
      "exits",         "halt_exits",           "halt_wakeup",
      "halt_attempted_poll", "halt_successful_poll", "irq_injections"};
  std::vector<VmStats::Count> counts;
  auto all = vcpu_->KvmStats();
  if (!all.ok()) return counts;
  for (const char* name : kWanted) {
    for (const auto& [n, value] : *all) {
      if (n == name) counts.push_back({n, value});
    }
  }
  return counts;
}

std::optional<std::chrono::steady_clock::time_point> VcpuThread::first_run()
    const {
  const int64_t ns = first_run_ns_.load(std::memory_order_relaxed);
  if (ns == 0) return std::nullopt;
  return std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(ns));
}

bool VcpuThread::HandleExit() {
  kvm_run* run = vcpu_->run();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
      // String I/O (rep ins/outs) arrives as `count` back-to-back elements.
      for (uint32_t i = 0; i < run->io.count; ++i) {
        uint8_t* element = data + i * run->io.size;
        if (run->io.direction == KVM_EXIT_IO_OUT) {
          pio_.Write(run->io.port, absl::MakeConstSpan(element, run->io.size));
        } else {
          pio_.Read(run->io.port, absl::MakeSpan(element, run->io.size));
        }
      }
      return true;
    }
    case KVM_EXIT_MMIO: {
      uint32_t len = std::min<uint32_t>(run->mmio.len, sizeof(run->mmio.data));
      if (run->mmio.is_write) {
        mmio_.Write(run->mmio.phys_addr, absl::MakeConstSpan(run->mmio.data, len));
      } else {
        mmio_.Read(run->mmio.phys_addr, absl::MakeSpan(run->mmio.data, len));
      }
      return true;
    }
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_HLT:  // only without an in-kernel LAPIC; harmless
      return true;
    case KVM_EXIT_SYSTEM_EVENT:
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
        on_end_(VmExit::kReset);
      } else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
        on_end_(VmExit::kPowerOff);
      } else {
        on_end_(ExitError(absl::StrFormat("system event type %d",
                                          run->system_event.type)));
      }
      return false;
    case KVM_EXIT_SHUTDOWN:
      on_end_(ExitError(
          "the guest triple-faulted (an exception while delivering a double "
          "fault): its kernel or image is broken or not meant for microvm"));
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      on_end_(ExitError(absl::StrFormat(
          "KVM could not enter the guest (hardware entry failure reason "
          "0x%x on host CPU %d)",
          run->fail_entry.hardware_entry_failure_reason,
          run->fail_entry.cpu)));
      return false;
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string what = absl::StrFormat(
          "KVM internal error, suberror %d%s", run->internal.suberror,
          run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
              ? " (KVM could not emulate an instruction)"
              : "");
      if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
          (run->emulation_failure.flags &
           KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        absl::StrAppend(&what, ", instruction bytes from KVM:");
        uint32_t n = std::min<uint32_t>(
            run->emulation_failure.insn_size,
            sizeof(run->emulation_failure.insn_bytes));
        for (uint32_t i = 0; i < n; ++i) {
          absl::StrAppendFormat(&what, " %02x",
                                run->emulation_failure.insn_bytes[i]);
        }
      } else {
        for (uint32_t i = 0; i < run->internal.ndata && i < 16; ++i) {
          absl::StrAppendFormat(&what, "%s0x%x", i == 0 ? ", data: " : " ",
                                run->internal.data[i]);
        }
      }
      on_end_(ExitError(what));
      return false;
    }
    default:
      on_end_(ExitError(absl::StrFormat("unhandled exit reason %d (%s)",
                                        run->exit_reason,
                                        ExitName(run->exit_reason))));
      return false;
  }
}

absl::Status VcpuThread::ExitError(const std::string& what) {
  std::string where;
  absl::StatusOr<kvm_regs> regs = vcpu_->GetRegs();
  absl::StatusOr<kvm_sregs> sregs = vcpu_->GetSregs();
  if (regs.ok()) {
    where = absl::StrFormat(" at RIP 0x%x", regs->rip);
    if (sregs.ok()) {
      // Instruction bytes at RIP, through the guest's own page tables.
      absl::StatusOr<uint64_t> pa =
          x86::GuestVirtToPhys(mem_, *sregs, regs->rip + sregs->cs.base);
      uint8_t bytes[16];
      if (pa.ok() && mem_.Read(*pa, absl::MakeSpan(bytes)).ok()) {
        absl::StrAppend(&where, " (code:");
        for (uint8_t b : bytes) absl::StrAppendFormat(&where, " %02x", b);
        absl::StrAppend(&where, ")");
      }
    }
  }
  return absl::AbortedError(absl::StrFormat(
      "vCPU %d: %s [%s]%s", vcpu_->id(), what,
      ExitName(vcpu_->run()->exit_reason), where));
}

}  // namespace microvm
