// SPDX-License-Identifier: Apache-2.0
#include "bench/bench_vm.h"

#include <x86intrin.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/cpus.h"
#include "base/status.h"
#include "memory/layout.h"
#include "vmm/platform.h"
#include "vmm/boot/loader.h"
#include "vmm/x86/cpuid.h"
#include "vmm/x86/long_mode.h"

namespace microvm::bench {

// The control ports of protocol.h: hands the guest the op the benchmark
// posted (a CMD read blocks the vCPU until there is one) and tells the
// benchmark when the guest is done with it.
class GuestControl final : public BusDevice {
 public:
  explicit GuestControl(uint32_t host_tsc_per_us)
      : host_tsc_per_us_(host_tsc_per_us) {}

  void Post(bench_op op, uint32_t count) {
    absl::MutexLock lock(&mu_);
    op_ = op;
    count_ = count;
    posted_ = true;
    done_ = false;
  }
  // After Quit(), the guest is told to stop at its next CMD read.
  void Quit() { Post(BENCH_OP_QUIT, 0); }
  void Fail(absl::Status status) {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) failure_ = std::move(status);
  }
  bool done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  absl::Status WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &GuestControl::Settled),
                              timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the bench guest did not finish its op within ",
          absl::FormatDuration(timeout), " (hung vCPU?)"));
    }
    return failure_;
  }
  uint32_t tsc_per_us() const {
    absl::MutexLock lock(&mu_);
    return tsc_per_us_;
  }

  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    uint32_t value = ~0u;
    if (offset == BENCH_PORT_CMD - BENCH_PORT_CONTROL) {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&posted_));
      // The op, then its count (which consumes the posting).
      value = count_pending_ ? count_ : static_cast<uint32_t>(op_);
      if (count_pending_) posted_ = false;
      count_pending_ = !count_pending_;
    }
    if (offset == BENCH_PORT_HELLO - BENCH_PORT_CONTROL) {
      value = host_tsc_per_us_;
    }
    std::memcpy(data.data(), &value, std::min(data.size(), sizeof(value)));
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    uint32_t value = 0;
    std::memcpy(&value, data.data(), std::min(data.size(), sizeof(value)));
    absl::MutexLock lock(&mu_);
    if (offset == BENCH_PORT_DONE - BENCH_PORT_CONTROL) done_ = true;
    if (offset == BENCH_PORT_HELLO - BENCH_PORT_CONTROL) tsc_per_us_ = value;
  }

 private:
  bool Settled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ || !failure_.ok();
  }

  const uint32_t host_tsc_per_us_;
  mutable absl::Mutex mu_;
  bench_op op_ ABSL_GUARDED_BY(mu_) = BENCH_OP_QUIT;
  uint32_t count_ ABSL_GUARDED_BY(mu_) = 0;
  bool posted_ ABSL_GUARDED_BY(mu_) = false;
  bool count_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  uint32_t tsc_per_us_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
};

double HostTscPerUs() {
  static const double rate = [] {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint64_t c1 = __rdtsc();
    auto t1 = std::chrono::steady_clock::now();
    return double(c1 - c0) /
           std::chrono::duration<double, std::micro>(t1 - t0).count();
  }();
  return rate;
}

AckCounter::AckCounter(const GuestMemory& mem) {
  absl::StatusOr<uint8_t*> host = mem.HostAddress(BENCH_ACK_GPA, 4);
  // BENCH_MEM_BYTES of RAM always cover BENCH_ACK_GPA.
  if (host.ok()) counter_ = reinterpret_cast<uint32_t*>(*host);
}

void AckCounter::Advance(uint64_t by) {
  if (counter_ != nullptr) {
    __atomic_fetch_add(counter_, static_cast<uint32_t>(by), __ATOMIC_RELEASE);
  }
}

// One writer (a bench VM has one vCPU): counted like the bare loop counts
// its exits, with a plain increment, read from other threads.
void CountingDevice::Count() {
  accesses_.store(accesses_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void CountingDevice::Read(uint64_t, absl::Span<uint8_t> data) {
  Count();
  std::memset(data.data(), 0, data.size());
}

void CountingDevice::Write(uint64_t, absl::Span<const uint8_t>) {
  Count();
  if (ack_ != nullptr) ack_->Advance(1);
}

absl::StatusOr<std::unique_ptr<BenchVm>> BenchVm::Create(
    const std::string& guest_elf, Loop loop, const Tuning& tuning) {
  MVM_ASSIGN_OR_RETURN(GuestMemory mem,
                       GuestMemory::Create(BENCH_MEM_BYTES, false));
  boot::LoadOptions load;
  load.kernel_path = guest_elf;
  MVM_ASSIGN_OR_RETURN(boot::BootInfo boot, boot::LoadKernel(mem, load));
  MVM_RETURN_IF_ERROR(x86::WriteBootTables(mem));
  MVM_ASSIGN_OR_RETURN(Kvm kvm, Kvm::Open());
  MVM_ASSIGN_OR_RETURN(KvmVm vm, KvmVm::Create(kvm));
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<EpollLoop> events, EpollLoop::Create());
  std::unique_ptr<BenchVm> bench(new BenchVm(
      std::move(kvm), std::move(vm), std::move(mem), std::move(events)));
  MVM_RETURN_IF_ERROR(
      bench->Build(boot.entry_rip, boot.zero_page_gpa, loop, tuning));
  return bench;
}

// KVM's set-up order (as in vmm/vm.cc): TSS and identity map, irqchip, PIT
// (the guest calibrates its TSC against it), memory, then the vCPU.
absl::Status BenchVm::Build(uint64_t entry, uint64_t zero_page, Loop loop,
                            const Tuning& tuning) {
  MVM_ASSIGN_OR_RETURN(irqs_, CreateX86Platform(kvm_, vm_));
  MVM_RETURN_IF_ERROR(ApplyKvmTuning(kvm_, vm_, tuning.kvm));
  memslots_ = std::make_unique<Memslots>(
      vm_, static_cast<uint32_t>(kvm_.CheckExtension(KVM_CAP_NR_MEMSLOTS)));
  MVM_RETURN_IF_ERROR(memslots_->MapRam(mem_));
  control_ = std::make_shared<GuestControl>(
      static_cast<uint32_t>(HostTscPerUs() + 0.5));
  MVM_RETURN_IF_ERROR(pio_.Register(BENCH_PORT_CONTROL, BENCH_CONTROL_PORTS,
                                    control_, "bench control"));
  events_thread_ = std::thread([this, cpu = tuning.events_cpu] {
    if (cpu.has_value() && !PinThisThread(*cpu, "the event thread").ok()) {
      control_->Fail(absl::FailedPreconditionError(
          absl::StrCat("cannot pin the event thread to CPU ", *cpu)));
    }
    (void)events_->Run();
  });

  MVM_ASSIGN_OR_RETURN(std::vector<kvm_cpuid_entry2> supported,
                       kvm_.SupportedCpuid());
  MVM_ASSIGN_OR_RETURN(vcpu_, vm_.CreateVcpu(kvm_, 0));
  MVM_RETURN_IF_ERROR(vcpu_->SetCpuid(x86::VcpuCpuid(supported, 0, 1)));
  MVM_RETURN_IF_ERROR(vcpu_->SetMsrs(x86::BootMsrs()));
  MVM_RETURN_IF_ERROR(vcpu_->SetFpu(x86::BootFpu()));
  MVM_ASSIGN_OR_RETURN(kvm_sregs sregs, vcpu_->GetSregs());
  x86::SetLongModeSregs(sregs);
  MVM_RETURN_IF_ERROR(vcpu_->SetSregs(sregs));
  MVM_RETURN_IF_ERROR(vcpu_->SetRegs(x86::BootRegs(entry, zero_page)));
  if (loop == Loop::kBare) return absl::OkStatus();

  MVM_RETURN_IF_ERROR(VcpuThread::InstallKickHandler());
  vcpu_thread_ = std::make_unique<VcpuThread>(
      std::move(vcpu_), pio_, mmio_, mem_,
      [control = control_](absl::StatusOr<VmExit> end) {
        control->Fail(end.ok() ? absl::AbortedError(
                                     "the bench guest ended the VM early")
                               : end.status());
      });
  if (tuning.vcpu_cpu.has_value()) vcpu_thread_->set_affinity(*tuning.vcpu_cpu);
  vcpu_thread_->Start();
  return absl::OkStatus();
}

BenchVm::~BenchVm() {
  if (control_ != nullptr) control_->Quit();
  vcpu_thread_.reset();
  if (events_thread_.joinable()) {
    events_->Stop(0);
    events_thread_.join();
  }
}

namespace {

absl::Status UnexpectedBareExit(uint32_t reason) {
  return absl::InternalError(
      absl::StrFormat("bare KVM_RUN loop: unexpected exit reason %d", reason));
}

}  // namespace

// The baseline: KVM_RUN and a switch on the exit reason, nothing else. The
// control ports go to the control device directly; the measured exits are
// counted and the guest re-entered. Only the control device ends the op (the
// guest's write to BENCH_PORT_DONE, on this thread), so only a control exit
// looks at it: a measured exit takes no lock.
absl::Status BenchVm::RunBare() {
  kvm_run* run = vcpu_->run();
  for (bool done = control_->done(); !done;) {
    long r = vcpu_->Run();
    if (r == -EINTR || r == -EAGAIN) continue;
    if (r < 0) return ErrnoError(static_cast<int>(-r), "KVM_RUN (bare loop)");
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        uint16_t port = run->io.port;
        if (port < BENCH_PORT_CONTROL ||
            port >= BENCH_PORT_CONTROL + BENCH_CONTROL_PORTS) {
          ++bare_exits_;
          break;
        }
        auto data = absl::MakeSpan(
            reinterpret_cast<uint8_t*>(run) + run->io.data_offset,
            run->io.size);
        if (run->io.direction == KVM_EXIT_IO_OUT) {
          control_->Write(port - BENCH_PORT_CONTROL, data);
        } else {
          control_->Read(port - BENCH_PORT_CONTROL, data);
        }
        done = control_->done();
        break;
      }
      case KVM_EXIT_MMIO:
        ++bare_exits_;
        break;
      case KVM_EXIT_INTR:
        break;
      default:
        return UnexpectedBareExit(run->exit_reason);
    }
  }
  return absl::OkStatus();
}

absl::Status BenchVm::RunBareToPowerOff(std::string* console) {
  constexpr uint16_t kCom1 = 0x3f8, kPowerOffPort = 0x3c0;
  constexpr uint8_t kLineControlDlab = 0x80, kLineStatusReady = 0x60, kPowerOff = 0x34;
  if (vcpu_ == nullptr) return absl::FailedPreconditionError("not a bare-loop VM");
  kvm_run* run = vcpu_->run();
  uint8_t line_control = 0;
  for (;;) {
    long r = vcpu_->Run();
    if (r == -EINTR || r == -EAGAIN) continue;
    if (r < 0) return ErrnoError(static_cast<int>(-r), "KVM_RUN (bare loop)");
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        const uint16_t port = run->io.port;
        uint8_t* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
        const bool out = run->io.direction == KVM_EXIT_IO_OUT;
        if (port >= kCom1 && port < kCom1 + 8) {
          const uint16_t reg = port - kCom1;
          if (out && reg == 3) line_control = data[0];
          if (out && reg == 0 && !(line_control & kLineControlDlab)) console->push_back(data[0]);
          if (!out) std::memset(data, 0, run->io.size);
          if (!out && reg == 5) data[0] = kLineStatusReady;
          if (!out && reg == 2) data[0] = 0x01;  // no interrupt pending
          break;
        }
        if (port == kPowerOffPort && out && data[0] == kPowerOff) return absl::OkStatus();
        if (!out) std::memset(data, 0xff, run->io.size);
        ++bare_exits_;
        break;
      }
      case KVM_EXIT_MMIO:
        if (!run->mmio.is_write) std::memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        ++bare_exits_;
        break;
      case KVM_EXIT_INTR:
        break;
      default:
        return UnexpectedBareExit(run->exit_reason);
    }
  }
}

absl::StatusOr<OpSamples> BenchVm::Run(bench_op op, uint32_t count) {
  if (count == 0 || count > BENCH_MAX_SAMPLES) {
    return absl::InvalidArgumentError(absl::StrCat(
        count, " samples asked; give 1 to ", BENCH_MAX_SAMPLES));
  }
  control_->Post(op, count);
  if (vcpu_thread_ != nullptr) {
    // Generous: a lost sample costs the guest a 1 s wait.
    MVM_RETURN_IF_ERROR(control_->WaitDone(absl::Seconds(120) +
                                           absl::Milliseconds(20) * count));
  } else {
    MVM_RETURN_IF_ERROR(RunBare());
  }
  OpSamples out;
  out.tsc_per_us = HostTscPerUs();
  out.guest_tsc_per_us = control_->tsc_per_us();
  if (out.guest_tsc_per_us == 0) {
    return absl::InternalError("the bench guest never said hello");
  }
  MVM_ASSIGN_OR_RETURN(out.result,
                       mem_.ReadObject<bench_result>(BENCH_RESULT_GPA));
  std::vector<uint32_t> ticks(out.result.samples);
  MVM_RETURN_IF_ERROR(mem_.Read(
      BENCH_SAMPLES_GPA,
      absl::MakeSpan(reinterpret_cast<uint8_t*>(ticks.data()),
                     ticks.size() * sizeof(uint32_t))));
  for (uint32_t t : ticks) {
    if (t != BENCH_LOST) out.us.push_back(double(t) / out.tsc_per_us);
  }
  return out;
}

std::vector<std::pair<std::string, BenchVm::Tuning>> TuningVariants() {
  std::vector<std::pair<std::string, BenchVm::Tuning>> v;
  v.push_back({"halt_poll_0", {.kvm = {.halt_poll_ns = 0}}});
  v.push_back({"halt_poll_200us", {.kvm = {.halt_poll_ns = 200000}}});
  v.push_back({"disable_exits_hlt_pause",
               {.kvm = {.disable_exits = KVM_X86_DISABLE_EXITS_HLT |
                                         KVM_X86_DISABLE_EXITS_PAUSE}}});
  absl::StatusOr<std::vector<int>> allowed = AllowedCpus();
  const int first = allowed.ok() && !allowed->empty() ? allowed->front() : 0;
  const int last = allowed.ok() && !allowed->empty() ? allowed->back() : 0;
  v.push_back({"pinned", {.vcpu_cpu = last, .events_cpu = first}});
  return v;
}

}  // namespace microvm::bench
