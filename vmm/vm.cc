// SPDX-License-Identifier: Apache-2.0
#include "vmm/vm.h"

#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/cpus.h"
#include "base/epoll_loop.h"
#include "base/messages.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "devices/boot_timer.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/acpi/acpi.h"
#include "pci/bar_allocator.h"
#include "pci/pci_device.h"
#include "pci/root_complex.h"
#include "vmm/boot/loader.h"
#include "vmm/boot_phases.h"
#include "vmm/boot/mptable.h"
#include "vmm/kvm/kvm.h"
#include "vmm/irq_router.h"
#include "vmm/legacy_devices.h"
#include "vmm/memslots.h"
#include "devices/vfio/memlock.h"
#include "devices/vfio/sysfs.h"
#include "vmm/passthrough.h"
#include "vmm/platform.h"
#include "vmm/sandbox/seccomp.h"
#include "vmm/vcpu.h"
#include "vmm/x86/cpuid.h"
#include "vmm/x86/long_mode.h"

namespace microvm {
namespace {

// LAPIC LVT registers (Intel SDM vol. 3A, 10.5.1) and delivery modes.
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7;
constexpr uint32_t kDeliveryNmi = 4;

// Upper bound of the 64-bit PCI window.
constexpr uint64_t kMmio64MaxSize = 64 * layout::kGiB;

uint32_t ReadApicReg(const kvm_lapic_state& s, size_t off) {
  uint32_t v;
  std::memcpy(&v, s.regs + off, sizeof(v));
  return v;
}

void WriteApicReg(kvm_lapic_state& s, size_t off, uint32_t v) {
  std::memcpy(s.regs + off, &v, sizeof(v));
}

uint32_t WithDeliveryMode(uint32_t lvt, uint32_t mode) {
  return (lvt & ~0x700u) | (mode << 8);
}




// --boot_timer: the set-up's phase `name` ended now (no timer: nothing).
void MarkPhase(BootPhases* phases, absl::string_view name) {
  if (phases != nullptr) phases->Mark(name);
}

// Where a boot finds the process's VFIO host side (opened on the first boot,
// which reports its set-up phases to `phases` when not null).
// What a boot gets from the VM that outlives it (VmImpl): the passed-through
// devices (prepared before the first boot's guest runs, opened and set up
// by AttachVfio) and the sandbox's filters (null: --seccomp=off).
struct BootShared {
  std::function<absl::StatusOr<const VfioHost*>()> prepare_vfio;
  std::function<absl::StatusOr<const VfioHost*>(BootPhases* phases)> open_vfio;
  const sandbox::SeccompFilters* filters = nullptr;
};

// One boot of the VM: a KVM VM with its vCPUs, buses, devices and event
// loop, over guest memory and VFIO devices that outlive it (VmImpl below).
class Machine final : public Vm {
 public:
  Machine(int boot, BootShared shared, const Kvm& kvm, KvmVm vm,
          GuestMemory& mem, std::unique_ptr<EpollLoop> loop,
          std::unique_ptr<BootPhases> phases)
      : boot_(boot),
        kvm_(kvm),
        vm_(std::move(vm)),
        mem_(mem),
        loop_(std::move(loop)),
        vfio_host_(std::move(shared.open_vfio)),
        prepare_vfio_(std::move(shared.prepare_vfio)),
        filters_(shared.filters),
        phases_(std::move(phases)) {}

  ~Machine() override {
    // vCPU threads first: they use the buses, devices and memory below.
    vcpus_.clear();
    // Passed-through devices quiet and reset before they are closed, so the
    // next VM can take them at once.
    if (passthrough_ != nullptr) (void)passthrough_->Reset();
  }

  absl::Status Build(const VmConfig& config, const boot::BootInfo& boot);

  Bus& pio_bus() override { return pio_; }
  Bus& mmio_bus() override { return mmio_; }

  InterruptController& interrupts() override { return *irqs_; }

  absl::StatusOr<VmExit> Run() override {
    return Run([] { return absl::OkStatus(); });
  }
  // Run(), with `after_vcpus_start` called on this thread once the vCPU
  // threads exist (VmImpl: the VMM thread's filter goes in there).
  absl::StatusOr<VmExit> Run(const std::function<absl::Status()>& after_vcpus_start);
  void Stop() override { End(VmExit::kStopped); }
  VmStats Stats() override;
  // CPU time of the process less its vCPU threads'.
  absl::Duration OtherThreadsCpu() const;

  // SIGINT/SIGTERM or the host's device request asked this VM to end: a
  // reset is not a reason to boot again.
  bool shutdown_requested() const {
    return stop_requested_ || shutdown_pressed_ || device_requested_;
  }

 private:
  void End(absl::StatusOr<VmExit> result);
  absl::Status SetUpVcpu(KvmVcpu& vcpu, uint32_t index, uint32_t count,
                         const std::vector<kvm_cpuid_entry2>& cpuid,
                         const boot::BootInfo& boot);
  absl::Status WatchSignals();
  absl::Status ApplyTuning(const VmConfig& config);
  // On the event loop: the first request presses the power button and
  // stops the VM if the guest is not off after the shutdown timeout
  // (kShutdownTimeout); a second request, or a timeout of 0, stops it at
  // once. `why` is kDeviceRequested for the host's device request (Run()
  // then ends with it however the VM ends), else kShutdownTimeout.
  void RequestShutdown(VmExit why);
  absl::Status SetUpPci(const VmConfig& config, const boot::BootInfo& boot);
  // The passed-through devices into their reserved slots, then every BAR
  // placed (see SetUpPci); phases (may be null) gets its steps.
  absl::Status AttachVfio(BootPhases* phases);
  // End() was called (by any thread).
  bool Ended() {
    absl::MutexLock lock(&mu_);
    return result_.has_value();
  }
  // --dma_map=overlap: the mapping's end on the event loop. A failure ends
  // the VM with it; success is reported once, by the boot it happens in.
  absl::Status WatchDmaMapping(const VfioHost& host);
  // --boot_timer: the phase `name` of the set-up ended now.
  void Mark(absl::string_view name) { MarkPhase(phases_.get(), name); }

  const int boot_;  // 1, then one more per restart (VmImpl)
  // When this boot's machine began to be built.
  const std::chrono::steady_clock::time_point built_ =
      std::chrono::steady_clock::now();
  const Kvm& kvm_;
  KvmVm vm_;
  GuestMemory& mem_;
  std::unique_ptr<Memslots> memslots_;
  std::unique_ptr<EpollLoop> loop_;
  std::function<absl::StatusOr<const VfioHost*>(BootPhases* phases)>
      vfio_host_;
  std::function<absl::StatusOr<const VfioHost*>()> prepare_vfio_;
  const sandbox::SeccompFilters* filters_;
  // --boot_timer only: the set-up's phases, reported as the vCPUs start.
  std::unique_ptr<BootPhases> phases_;
  // Opened by Run() once the VMM thread's filter is in: the vCPU threads
  // wait for it before their first KVM_RUN.
  std::shared_ptr<absl::Notification> vcpu_gate_ = std::make_shared<absl::Notification>();
  std::unique_ptr<IrqRouter> irqs_;
  Bus pio_{"PIO"};
  Bus mmio_{"MMIO"};
  // After the buses and the interrupt router: it unregisters from the first
  // and its devices hold vectors of the second.
  // The devices' watches and references; the root owns the devices.
  // Set by AttachVfio (on Run()'s thread while the vCPUs run, with
  // --dma_map=overlap) under mu_; never reset before the destructor.
  std::unique_ptr<Passthrough> passthrough_;
  std::unique_ptr<pci::PciRoot> pci_;
  // SetUpPci's, for AttachVfio.
  pci::BarWindows bar_windows_;
  std::vector<uint8_t> vfio_slots_;
  bool vfio_intx_userspace_ = false;
  bool vfio_mmap_ = true;
  // AttachVfio still to run, in Run() (config access held meanwhile).
  bool attach_pending_ = false;
  uint32_t phys_bits_ = 36;
  std::unique_ptr<LegacyDevices> devices_;
  UniqueFd signal_fd_;
  EventLoop::Watch signal_watch_;
  std::optional<BootTimer::Clock::time_point> boot_timer_start_;
  // The CPU time of the threads other than the vCPUs as the vCPUs were let
  // into the guest (VmStats::other_threads_cpu counts from there); under mu_.
  std::optional<absl::Duration> other_threads_cpu_at_start_;
  std::chrono::steady_clock::time_point start_;
  std::optional<int> loop_affinity_;
  int shutdown_timeout_s_ = 0;
  // Event-loop thread only (and Run() after the loop, the same thread).
  bool stop_requested_ = false;  // a signal or device request came
  bool shutdown_pressed_ = false;
  bool device_requested_ = false;
  UniqueFd shutdown_timer_;
  EventLoop::Watch shutdown_watch_;
  EventLoop::Watch dma_watch_;
  // Declared last: destroyed (stopped and joined) first.
  std::vector<std::unique_ptr<VcpuThread>> vcpus_;

  absl::Mutex mu_;
  std::optional<absl::StatusOr<VmExit>> result_ ABSL_GUARDED_BY(mu_);
  // The passed-through devices were attached while the guest ran (Run).
  std::optional<std::chrono::steady_clock::time_point> devices_ready_
      ABSL_GUARDED_BY(mu_);
};

absl::Status Machine::SetUpVcpu(KvmVcpu& vcpu, uint32_t index, uint32_t count,
                               const std::vector<kvm_cpuid_entry2>& cpuid,
                               const boot::BootInfo& boot) {
  MVM_RETURN_IF_ERROR(vcpu.SetCpuid(x86::VcpuCpuid(cpuid, index, count)));
  MVM_RETURN_IF_ERROR(vcpu.SetMsrs(x86::BootMsrs()));
  // LINT0 receives the PIC (ExtINT) and LINT1 NMIs, as firmware leaves them
  // (MP spec 1.4, 3.6.2.2 "virtual wire mode").
  MVM_ASSIGN_OR_RETURN(kvm_lapic_state lapic, vcpu.GetLapic());
  WriteApicReg(lapic, kApicLvtLint0,
               WithDeliveryMode(ReadApicReg(lapic, kApicLvtLint0),
                                kDeliveryExtInt));
  WriteApicReg(lapic, kApicLvtLint1,
               WithDeliveryMode(ReadApicReg(lapic, kApicLvtLint1),
                                kDeliveryNmi));
  MVM_RETURN_IF_ERROR(vcpu.SetLapic(lapic));
  if (index != 0) {
    // Application processors wait for INIT/SIPI in the in-kernel LAPIC.
    return absl::OkStatus();
  }
  MVM_RETURN_IF_ERROR(vcpu.SetFpu(x86::BootFpu()));
  MVM_ASSIGN_OR_RETURN(kvm_sregs sregs, vcpu.GetSregs());
  x86::SetLongModeSregs(sregs);
  MVM_RETURN_IF_ERROR(vcpu.SetSregs(sregs));
  return vcpu.SetRegs(x86::BootRegs(boot.entry_rip, boot.zero_page_gpa));
}

// The root complex, its devices with firmware-style BAR placement, then the
// tables that describe it all to the guest: ACPI (_PRT, _CRS windows, MCFG)
// for Linux and MP-table interrupt entries for guests without ACPI.
//
// Passed-through devices get their slots reserved here (the tables route
// them) and are attached by AttachVfio: now with --dma_map=eager, else after
// the vCPUs started (Run), while the guest boots, with the guest's config
// accesses held until they are complete. Opening a VFIO device and setting
// it up is milliseconds of host kernel work that the guest's first
// instruction need not wait for: the guest looks at PCI only in its PCI
// scan, long after.
absl::Status Machine::SetUpPci(const VmConfig& config,
                              const boot::BootInfo& boot) {
  MVM_ASSIGN_OR_RETURN(pci_, pci::PciRoot::Create(pio_, mmio_, *irqs_));
  for (const PciDeviceFactory& make : config.pci_devices) {
    MVM_ASSIGN_OR_RETURN(std::shared_ptr<pci::PciDevice> device, make(*irqs_));
    MVM_RETURN_IF_ERROR(pci_->AddDevice(std::move(device)).status());
  }
  if (!config.vfio_devices.empty()) {
    // What a user gets wrong (too small a locked-memory limit, no such
    // device, not bound to vfio-pci, no IOMMU group, a group not viable, no
    // access to its node) is refused now, before the guest runs, even when
    // the devices are set up after the vCPUs started; every file they need
    // is open by then (the sandbox lets no thread open one later).
    MVM_ASSIGN_OR_RETURN(const VfioHost* host, prepare_vfio_());
    for (const std::optional<uint8_t>& pin : host->pins()) {
      MVM_ASSIGN_OR_RETURN(uint8_t slot, pci_->ReserveSlot(pin));
      vfio_slots_.push_back(slot);
    }
  }
  vfio_intx_userspace_ = config.vfio_intx_userspace;
  vfio_mmap_ = config.vfio_mmap;
  // The 64-bit window starts at the first 1 GiB boundary above RAM (and
  // above 4 GiB) and is as large as the guest's physical address width
  // allows, up to kMmio64MaxSize.
  pci::BarWindows& windows = bar_windows_;
  windows.mmio64_base = std::max<uint64_t>(mem_.end(), layout::kHighRamStart);
  windows.mmio64_base = (windows.mmio64_base + layout::kGiB - 1) &
                        ~(layout::kGiB - 1);
  const uint64_t limit = uint64_t{1} << phys_bits_;
  windows.mmio64_size =
      limit > windows.mmio64_base
          ? std::min(kMmio64MaxSize, limit - windows.mmio64_base)
          : 0;
  if (vfio_slots_.empty()) {
    MVM_RETURN_IF_ERROR(pci_->AssignBars(windows));
    Mark("PCI BARs");
  } else if (!config.dma_map_overlap) {
    MVM_RETURN_IF_ERROR(AttachVfio(phases_.get()));
  } else {
    pci_->HoldConfigAccess();
    attach_pending_ = true;
  }

  std::vector<pci::IntxRoute> intx = pci_->intx_routes();
  boot::MpTableConfig mp;
  mp.cpus = config.cpus;
  acpi::AcpiConfig acpi_config;
  acpi_config.cpus = config.cpus;
  acpi_config.pci = true;
  acpi_config.mmio64_base = windows.mmio64_base;
  acpi_config.mmio64_size = windows.mmio64_size;
  for (const pci::IntxRoute& r : intx) {
    mp.pci_intx.push_back({r.device, r.pin, static_cast<uint8_t>(r.gsi)});
    acpi_config.pci_routes.push_back({r.device, r.pin, r.gsi});
  }
  MVM_RETURN_IF_ERROR(boot::WriteMpTable(mem_, mp));
  MVM_ASSIGN_OR_RETURN(uint64_t rsdp, acpi::WriteAcpiTables(mem_, acpi_config));
  return acpi::SetRsdpInZeroPage(mem_, boot.zero_page_gpa, rsdp);
}

absl::Status Machine::AttachVfio(BootPhases* phases) {
  vfio_pci::Context context{*irqs_, *memslots_, *loop_};
  if (vfio_intx_userspace_) context.intx_mode = vfio_pci::IntxMode::kUserspace;
  context.mmap_bars = vfio_mmap_;
  // The host wants a device back: end the VM, whose teardown turns the
  // device's interrupts off and closes its fds, which lets the host's
  // unbind finish. (Its function reset fails on this path, quietly: the
  // unbind holds the device lock, so pci_try_reset_function gives up.)
  auto on_request = [this](const std::string& address) {
    // vfio-pci repeats the request every 10 s while the unbind waits:
    // the first one started the shutdown, whose timer ends the VM.
    if (device_requested_) return;
    Message(absl::StrFormat(
        "the host is taking PCI device %s back (it is being unbound from "
        "vfio-pci): %s",
        address,
        shutdown_timeout_s_ > 0
            ? absl::StrFormat("pressing the guest's power button; the VM "
                              "ends and releases the device when the guest "
                              "is off or after %d s",
                              shutdown_timeout_s_)
            : "stopping the VM and releasing the device"));
    RequestShutdown(VmExit::kDeviceRequested);
  };
  MVM_ASSIGN_OR_RETURN(const VfioHost* host, vfio_host_(phases));
  // The VM ended while the devices opened (a signal, a reset): no pinning,
  // no devices for it.
  if (Ended()) return absl::OkStatus();
  // --dma_map=overlap: the pinning starts now, beside the guest (a no-op
  // after the first boot).
  if (host->overlapped()) {
    host->dma().Begin([filters = filters_]() -> absl::Status {
      if (filters == nullptr) return absl::OkStatus();
      return filters->Install(sandbox::ThreadKind::kDma, "dma");
    });
  }
  MVM_ASSIGN_OR_RETURN(
      std::unique_ptr<Passthrough> passthrough,
      Passthrough::Create(*host, *pci_, context, on_request, vfio_slots_));
  bool ended = false;
  {
    absl::MutexLock lock(&mu_);
    passthrough_ = std::move(passthrough);
    ended = result_.has_value();
  }
  // The VM ended while the devices were set up (End() saw no gate to
  // close): a vCPU must not wait at this one.
  if (ended && passthrough_->gate() != nullptr) passthrough_->gate()->Close();
  if (host->overlapped()) MVM_RETURN_IF_ERROR(WatchDmaMapping(*host));
  MarkPhase(phases, "VFIO devices");
  if (ended) return absl::OkStatus();
  MVM_RETURN_IF_ERROR(pci_->AssignBars(bar_windows_));
  MarkPhase(phases, "PCI BARs");
  return absl::OkStatus();
}

absl::Status Machine::WatchDmaMapping(const VfioHost& host) {
  std::optional<absl::Status> ended = host.dma().result();
  if (ended.has_value()) {
    // Ended in an earlier boot: its failure ended that boot, its success
    // was reported there.
    return *ended;
  }
  // The fd stays readable once the mapping ended: the watch removes itself.
  MVM_ASSIGN_OR_RETURN(
      dma_watch_, loop_->Add(host.dma().done_fd(), [this, &host](uint32_t) {
        dma_watch_.Reset();
        absl::Status status = host.dma().result().value_or(absl::OkStatus());
        if (!status.ok()) {
          End(status);
          return;
        }
        const vfio::DmaMapper::Progress done = host.dma().progress();
        const double at_ms = absl::ToDoubleMilliseconds(
            absl::FromChrono(done.finished.value_or(start_) - start_));
        Message(absl::StrFormat(
            "mapped %d MiB of guest RAM for DMA in %s while the guest "
            "booted, done %.3f ms after microvm started; Bus Master Enable "
            "waited for it %d times",
            done.mapped >> 20, absl::FormatDuration(done.elapsed), at_ms,
            passthrough_->gate()->waits()));
        if (boot_timer_start_.has_value()) {
          Message(absl::StrFormat(
              "boot timer: guest RAM mapped for DMA at %.3f ms after microvm "
              "started",
              absl::ToDoubleMilliseconds(absl::FromChrono(
                  done.finished.value_or(*boot_timer_start_) -
                  *boot_timer_start_))));
        }
      }));
  return absl::OkStatus();
}

absl::Status Machine::WatchSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  signal_fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return LastErrnoError("signalfd(SIGINT, SIGTERM, SIGUSR1)");
  MVM_ASSIGN_OR_RETURN(signal_watch_,
                       loop_->Add(signal_fd_.get(), [this](uint32_t) {
                         signalfd_siginfo info;
                         while (::read(signal_fd_.get(), &info,
                                       sizeof(info)) == sizeof(info)) {
                           if (info.ssi_signo == SIGUSR1) {
                             MessageLines(
                                 FormatStatsTable(Stats(), "on SIGUSR1"));
                             continue;
                           }
                           if (!shutdown_pressed_ && shutdown_timeout_s_ > 0) {
                             Message(absl::StrFormat(
                                 "%s: pressed the guest's ACPI power button; "
                                 "it has %d s to power off "
                                 "(--shutdown_timeout), a second SIGTERM or "
                                 "SIGINT stops it now",
                                 info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM",
                                 shutdown_timeout_s_));
                           }
                           RequestShutdown(VmExit::kShutdownTimeout);
                         }
                       }));
  return absl::OkStatus();
}

// --cpu_affinity, --halt_poll_ns, --disable_exits: checked against what this
// host allows, then applied (KVM_ENABLE_CAP before any vCPU exists; the
// threads pin themselves as they start).
absl::Status Machine::ApplyTuning(const VmConfig& config) {
  if (!config.vcpu_affinity.empty() || config.loop_affinity.has_value()) {
    MVM_ASSIGN_OR_RETURN(const std::vector<int> allowed, AllowedCpus());
    auto check = [&](int cpu, const std::string& who) -> absl::Status {
      if (std::find(allowed.begin(), allowed.end(), cpu) != allowed.end()) {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(absl::StrFormat(
          "--cpu_affinity: host CPU %d (for %s) is not one microvm may run on "
          "here (allowed: %s; see taskset -cp %d and the cgroup's cpuset)",
          cpu, who, CpuList(allowed), ::getpid()));
    };
    for (const auto& [vcpu, cpu] : config.vcpu_affinity) {
      MVM_RETURN_IF_ERROR(check(cpu, absl::StrCat("vCPU ", vcpu)));
    }
    if (config.loop_affinity.has_value()) {
      MVM_RETURN_IF_ERROR(check(*config.loop_affinity, "the event loop"));
    }
    loop_affinity_ = config.loop_affinity;
  }
  return ApplyKvmTuning(kvm_, vm_,
                        {.halt_poll_ns = config.halt_poll_ns,
                         .disable_exits = config.disable_exits});
}

// Set-up order matters to KVM: TSS and identity map, irqchip, PIT, memory,
// then vCPUs (which need the irqchip to exist to get an in-kernel LAPIC).
absl::Status Machine::Build(const VmConfig& config,
                           const boot::BootInfo& boot) {
  start_ = config.start;
  shutdown_timeout_s_ = config.shutdown_timeout_s;
  if (config.cpus < 1 || config.cpus > kvm_.max_vcpus()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpus ", config.cpus, " is out of range: this host's ",
                     "KVM runs 1 to ", kvm_.max_vcpus(), " vCPUs"));
  }
  MVM_ASSIGN_OR_RETURN(irqs_, CreateX86Platform(kvm_, vm_));
  MVM_RETURN_IF_ERROR(ApplyTuning(config));
  MVM_ASSIGN_OR_RETURN(std::vector<kvm_cpuid_entry2> cpuid,
                       kvm_.SupportedCpuid());
  phys_bits_ = x86::PhysAddressBits(cpuid);
  memslots_ = std::make_unique<Memslots>(
      vm_, static_cast<uint32_t>(kvm_.CheckExtension(KVM_CAP_NR_MEMSLOTS)));
  MVM_RETURN_IF_ERROR(memslots_->MapRam(mem_));
  Mark("platform and memslots");
  // After the memslots: passed-through BARs become memslots of their own.
  MVM_RETURN_IF_ERROR(SetUpPci(config, boot));
  Mark("ACPI and MP tables");

  LegacyDevices::Options dev;
  dev.console_out_fd = config.console_out_fd;
  dev.console_in_fd = config.console_in_fd;
  dev.on_poweroff = [this] { End(VmExit::kPowerOff); };
  dev.on_reset = [this] { End(VmExit::kReset); };
  MVM_ASSIGN_OR_RETURN(devices_,
                       LegacyDevices::Create(*this, *loop_, std::move(dev)));
  if (config.handle_signals) MVM_RETURN_IF_ERROR(WatchSignals());
  if (config.boot_timer_start.has_value()) {
    boot_timer_start_ = config.boot_timer_start;
    MVM_RETURN_IF_ERROR(mmio_.Register(
        layout::kBootTimerAddr, layout::kBootTimerSize,
        std::make_shared<BootTimer>(
            *boot_timer_start_,
            [this](uint8_t marker, absl::Duration since, bool last) {
              Message(BootTimer::Describe(marker, since, last));
              Message(absl::StrCat("boot timer: ",
                                   FormatBootShare(Stats(), since)));
            }),
        "boot timer"));
  }
  Mark("devices");

  MVM_RETURN_IF_ERROR(VcpuThread::InstallKickHandler());
  for (int i = 0; i < config.cpus; ++i) {
    MVM_ASSIGN_OR_RETURN(std::unique_ptr<KvmVcpu> vcpu,
                         vm_.CreateVcpu(kvm_, i));
    MVM_RETURN_IF_ERROR(SetUpVcpu(*vcpu, i, config.cpus, cpuid, boot));
    vcpus_.push_back(std::make_unique<VcpuThread>(
        std::move(vcpu), pio_, mmio_, mem_,
        [this](absl::StatusOr<VmExit> r) { End(std::move(r)); }));
    vcpus_.back()->set_time_exits(boot_timer_start_.has_value());
    if (auto pin = config.vcpu_affinity.find(i);
        pin != config.vcpu_affinity.end()) {
      vcpus_.back()->set_affinity(pin->second);
    }
    // Each vCPU thread puts in its own filter, then waits at the gate until
    // the VMM thread, which made it unfiltered (so KVM_RUN passes one
    // filter, not two), has its own: no thread runs unfiltered once the
    // guest does (Run()).
    vcpus_.back()->set_on_start([filters = filters_, i, gate = vcpu_gate_] {
      absl::Status installed = filters == nullptr
                                   ? absl::OkStatus()
                                   : filters->Install(sandbox::ThreadKind::kVcpu,
                                                      absl::StrCat("vcpu", i));
      gate->WaitForNotification();
      return installed;
    });
  }
  Mark("vCPUs");
  return absl::OkStatus();
}

void Machine::RequestShutdown(VmExit why) {
  // Before End(): a guest reset that wins the race to End() must not start
  // another boot (VmImpl::Run asks shutdown_requested()).
  stop_requested_ = true;
  if (why == VmExit::kDeviceRequested) device_requested_ = true;
  if (shutdown_pressed_ || shutdown_timeout_s_ <= 0 || devices_ == nullptr) {
    End(VmExit::kStopped);
    return;
  }
  shutdown_pressed_ = true;
  devices_->PressPowerButton();
  shutdown_timer_.reset(
      ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  itimerspec when{};
  when.it_value.tv_sec = shutdown_timeout_s_;
  if (!shutdown_timer_ ||
      ::timerfd_settime(shutdown_timer_.get(), 0, &when, nullptr) != 0) {
    End(VmExit::kStopped);  // no way to bound the wait: do not wait
    return;
  }
  absl::StatusOr<EventLoop::Watch> watch =
      loop_->Add(shutdown_timer_.get(), [this](uint32_t) {
        End(VmExit::kShutdownTimeout);
      });
  if (!watch.ok()) {
    End(VmExit::kStopped);
    return;
  }
  shutdown_watch_ = std::move(*watch);
}

absl::Duration Machine::OtherThreadsCpu() const {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  absl::Duration others = absl::DurationFromTimespec(ts);
  for (const auto& v : vcpus_) others -= v->cpu_time();
  return others;
}

VmStats Machine::Stats() {
  VmStats s;
  s.wall = absl::FromChrono(std::chrono::steady_clock::now() - start_);
  s.boots = boot_;
  if (boot_ > 1) s.boot_start = absl::FromChrono(built_ - start_);
  for (const auto& v : vcpus_) {
    s.vcpus.push_back({static_cast<int>(v->vcpu().id()), v->cpu_time(),
                       v->exit_counts(), v->kvm_counts(), v->handling_time()});
  }
  {
    const absl::Duration others = OtherThreadsCpu();
    absl::MutexLock lock(&mu_);
    if (other_threads_cpu_at_start_.has_value()) {
      s.other_threads_cpu =
          std::max(others - *other_threads_cpu_at_start_, absl::ZeroDuration());
    }
  }
  if (!vcpus_.empty()) {
    if (auto first = vcpus_[0]->first_run(); first.has_value()) {
      s.first_instruction = absl::FromChrono(*first - start_);
    }
  }
  for (const Bus* bus : {&pio_, &mmio_}) {
    Bus::Counts counts = bus->counts();
    for (Bus::LabelCounts& c : counts.labels) {
      s.ranges.push_back({bus->name(), std::move(c.label), c.reads, c.writes});
    }
    s.ranges.push_back(
        {bus->name(), "", counts.unclaimed_reads, counts.unclaimed_writes});
  }
  if (irqs_ != nullptr) {
    s.line_raises = irqs_->line_raises();
    s.msi_triggers = irqs_->msi_triggers();
  }
  Passthrough* passthrough = nullptr;
  std::optional<std::chrono::steady_clock::time_point> devices_ready;
  {
    absl::MutexLock lock(&mu_);
    passthrough = passthrough_.get();
    devices_ready = devices_ready_;
  }
  if (passthrough != nullptr) {
    // A passed-through device's bus ranges are its traps (vfio_pci: "vfio
    // ADDRESS BAR n" / "ROM"); what is mapped into the guest never exits.
    const VfioHost& host = passthrough->host();
    for (const std::string& address : host.addresses()) {
      VmStats::Passthrough p{address};
      const std::string prefix = absl::StrCat("vfio ", address, " ");
      for (const VmStats::Range& r : s.ranges) {
        if (!absl::StartsWith(r.device, prefix)) continue;
        p.trapped_reads += r.reads;
        p.trapped_writes += r.writes;
      }
      s.passthrough.push_back(std::move(p));
    }
    const vfio::DmaMapper::Progress dma = host.dma().progress();
    VmStats::Dma& d = s.dma.emplace();
    d.bytes = dma.mapped;
    d.elapsed = dma.elapsed;
    d.total = dma.total;
    d.overlapped = host.overlapped();
    if (dma.finished.has_value()) {
      d.finished = absl::FromChrono(*dma.finished - start_);
    }
    if (const vfio::DmaMapper::Gate* gate = passthrough->gate()) {
      d.gate_waits = gate->waits();
      d.gate_waited = gate->waited();
    }
    if (devices_ready.has_value()) {
      d.devices_ready = absl::FromChrono(*devices_ready - start_);
      const pci::PciRoot::HoldCounts held = pci_->hold_counts();
      d.config_waits = held.waits;
      d.config_waited = held.waited;
    }
  }
  return s;
}

void Machine::End(absl::StatusOr<VmExit> result) {
  Passthrough* passthrough = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (result_.has_value()) return;
    result_ = std::move(result);
    passthrough = passthrough_.get();
  }
  // Stop every vCPU now, so that none re-enters the guest after it asked to
  // power off or reset (the asking vCPU returns from its exit handler into a
  // stopped loop); one waiting for the DMA mapping at Bus Master Enable
  // returns too, its write held back, and one whose config access waits for
  // the passed-through devices returns without touching any device (one may
  // be half set up).
  for (auto& v : vcpus_) v->Stop();
  if (passthrough != nullptr && passthrough->gate() != nullptr) {
    passthrough->gate()->Close();
  }
  if (pci_ != nullptr) pci_->AbortConfigAccess();
  loop_->Stop(0);
}

absl::StatusOr<VmExit> Machine::Run(const std::function<absl::Status()>& after_vcpus_start) {
  if (boot_timer_start_.has_value()) {
    if (phases_ != nullptr) {
      Message(absl::StrCat("boot timer: ", phases_->Describe()));
    }
    Message(absl::StrFormat(
        "boot timer: vCPUs start at %.3f ms after microvm started",
        absl::ToDoubleMilliseconds(absl::FromChrono(BootTimer::Clock::now() -
                                                    *boot_timer_start_))));
  }
  for (auto& v : vcpus_) v->Start();
  // The VMM thread's filter, then the vCPUs may enter the guest (the gate
  // in Build()). A failure ends the VM and is what Run() returns, even if
  // the VM had ended already: nothing runs past it unfiltered.
  const absl::Status filtered = after_vcpus_start();
  if (!filtered.ok()) End(filtered);
  {
    const absl::Duration others = OtherThreadsCpu();
    absl::MutexLock lock(&mu_);
    other_threads_cpu_at_start_ = others;
  }
  vcpu_gate_->Notify();
  if (!filtered.ok()) {
    loop_->Stop(0);
    for (auto& v : vcpus_) v->Stop();
    for (auto& v : vcpus_) v->Join();
    return filtered;
  }
  if (attach_pending_) {
    attach_pending_ = false;
    // The guest first: on a host with one free CPU the set-up below would
    // otherwise run before the vCPU thread gets to the guest. Bounded: a
    // vCPU that fails to start ends the VM on its own.
    if (!vcpus_.empty()) (void)vcpus_[0]->WaitFirstRun(absl::Seconds(1));
    bool ended = Ended();
    auto phases = boot_timer_start_.has_value()
                      ? std::make_unique<BootPhases>(BootTimer::Clock::now())
                      : nullptr;
    // A VM that already ended (a vCPU failed to start, the guest powered
    // off at once) opens no device and pins nothing.
    absl::Status attached = ended ? absl::OkStatus() : AttachVfio(phases.get());
    if (!attached.ok()) {
      // The VM ended meanwhile for another reason (a reset with
      // --on_reboot=exit ends microvm with 0): the failure is still said.
      if (Ended()) {
        Message(absl::StrCat("setting up the passed-through devices failed: ",
                             attached.message()));
      }
      // First: End() aborts the held config accesses, so no guest access
      // reaches a device that is half set up.
      End(attached);
      ended = true;
    } else {
      absl::MutexLock lock(&mu_);
      ended = result_.has_value();
      if (!ended) devices_ready_ = std::chrono::steady_clock::now();
    }
    pci_->ReleaseConfigAccess();
    if (!ended && phases != nullptr) {
      Message(absl::StrFormat(
          "boot timer: passed-through devices ready at %.3f ms after microvm "
          "started, while the guest ran (%s)",
          absl::ToDoubleMilliseconds(absl::FromChrono(
              BootTimer::Clock::now() - *boot_timer_start_)),
          phases->Describe()));
    }
  }
  // After the vCPU threads exist: they inherit their creator's CPU mask, and
  // an unpinned vCPU must keep the whole of it.
  if (loop_affinity_.has_value()) {
    absl::Status pinned = PinThisThread(*loop_affinity_, "the event loop");
    if (!pinned.ok()) End(pinned);
  }
  absl::StatusOr<int> loop_result = loop_->Run();
  for (auto& v : vcpus_) v->Stop();
  for (auto& v : vcpus_) v->Join();
  if (!loop_result.ok()) return loop_result.status();
  absl::MutexLock lock(&mu_);
  absl::StatusOr<VmExit> result = result_.value_or(VmExit::kStopped);
  // The guest went off while the host waited for its device: the VM still
  // ended because the device was taken back.
  if (device_requested_ && result.ok()) return VmExit::kDeviceRequested;
  return result;
}

// Builds boot number `number`: the kernel, initrd and boot tables written
// into guest memory first (a bad kernel, initrd or command line is reported
// before KVM is even opened, so those errors are the same on every host),
// then a new KVM VM around that memory.
// The kernel and initrd files, and /dev/kvm, are opened by the first boot
// and kept for the next ones (--on_reboot=restart), so a restart opens no
// file: the sandbox would not let it.
struct BootFiles {
  std::optional<boot::ImageFile> kernel;
  std::optional<boot::ImageFile> initrd;
  std::optional<Kvm> kvm;
};

absl::StatusOr<std::unique_ptr<Machine>> Boot(
    int number, const VmConfig& config, GuestMemory& mem, BootFiles& files,
    BootShared shared, std::unique_ptr<BootPhases> phases) {
  // Low memory as firmware leaves it on every boot: the boot tables, zero
  // page and command line below are written over zeros, never over what an
  // earlier boot's guest left there.
  MVM_ASSIGN_OR_RETURN(uint8_t* low, mem.HostAddress(0, layout::kKernelAddr));
  std::memset(low, 0, layout::kKernelAddr);
  boot::LoadOptions load;
  load.kernel_path = config.kernel_path;
  load.initrd_path = config.initrd_path;
  if (!files.kernel.has_value()) {
    MVM_ASSIGN_OR_RETURN(files.kernel,
                         boot::ImageFile::Open(config.kernel_path, "kernel"));
  }
  load.kernel_file = &*files.kernel;
  if (!config.initrd_path.empty()) {
    if (!files.initrd.has_value()) {
      MVM_ASSIGN_OR_RETURN(files.initrd,
                           boot::ImageFile::Open(config.initrd_path, "initrd"));
    }
    load.initrd_file = &*files.initrd;
  }
  load.cmdline = config.cmdline;
  load.cpus = config.cpus;
  MVM_ASSIGN_OR_RETURN(boot::BootInfo boot, boot::LoadKernel(mem, load));
  MarkPhase(phases.get(), "kernel and initrd");
  MVM_RETURN_IF_ERROR(x86::WriteBootTables(mem));
  MarkPhase(phases.get(), "boot tables");

  if (!files.kvm.has_value()) {
    MVM_ASSIGN_OR_RETURN(files.kvm, Kvm::Open(config.kvm_device));
  }
  MVM_ASSIGN_OR_RETURN(KvmVm vm, KvmVm::Create(*files.kvm));
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<EpollLoop> loop, EpollLoop::Create());
  MarkPhase(phases.get(), "KVM VM");
  auto machine = std::make_unique<Machine>(
      number, std::move(shared), *files.kvm, std::move(vm), mem,
      std::move(loop), std::move(phases));
  MVM_RETURN_IF_ERROR(machine->Build(config, boot));
  return machine;
}

// The VM for its whole life: guest memory and the VFIO devices with their
// DMA mappings, and the current boot. A guest reset with
// restart_on_reset ends the boot (vCPUs, KVM VM, emulated devices and the
// vfio-pci devices over their function reset, routes and irqfds, as on
// teardown) and builds the next one in the same memory, with the kernel and
// initrd loaded again; the DMA mappings stay.
class VmImpl final : public Vm {
 public:
  VmImpl(const VmConfig& config, GuestMemory mem,
         std::unique_ptr<BootPhases> first_phases)
      : config_(config),
        first_phases_(std::move(first_phases)),
        mem_(std::move(mem)) {
    CPU_ZERO(&start_mask_);
    (void)::sched_getaffinity(0, sizeof(start_mask_), &start_mask_);
  }

  absl::Status FirstBoot() {
    if (config_.seccomp != sandbox::SeccompMode::kOff) {
      sandbox::PolicyOptions policy;
      policy.restart = config_.restart_on_reset;
      policy.sanitizer = sandbox::BuiltWithSanitizer();
      MVM_ASSIGN_OR_RETURN(filters_,
                           sandbox::SeccompFilters::Build(config_.seccomp,
                                                          policy));
    }
    MVM_ASSIGN_OR_RETURN(machine_, Boot(1, config_, mem_, files_, Shared(),
                                        std::move(first_phases_)));
    return absl::OkStatus();
  }

  // The current boot's: devices added here (tests) are on the first boot
  // only, and the references are invalid once a restart replaced it.
  Bus& pio_bus() override { return machine_->pio_bus(); }
  Bus& mmio_bus() override { return machine_->mmio_bus(); }
  InterruptController& interrupts() override { return machine_->interrupts(); }

  absl::StatusOr<VmExit> Run() override;
  void Stop() override {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    if (machine_ != nullptr) machine_->Stop();
  }
  VmStats Stats() override {
    absl::MutexLock lock(&mu_);
    return machine_ != nullptr ? machine_->Stats() : last_stats_;
  }

 private:
  BootShared Shared() {
    BootShared shared;
    shared.filters = filters_.get();
    // Before the guest runs (first boot only: a restart keeps the devices).
    shared.prepare_vfio = [this]() -> absl::StatusOr<const VfioHost*> {
      if (vfio_ != nullptr) return vfio_.get();
      // VFIO pins all of guest RAM: a locked-memory limit too small for it
      // is refused before anything is mapped.
      MVM_ASSIGN_OR_RETURN(const vfio::LockedMemoryRights rights,
                           vfio::CurrentLockedMemoryRights());
      MVM_RETURN_IF_ERROR(vfio::CheckLockedMemory(mem_.ram_bytes(), rights));
      MVM_ASSIGN_OR_RETURN(vfio_, VfioHost::Prepare(config_.vfio_devices,
                                                     config_.dma_map_overlap));
      return vfio_.get();
    };
    shared.open_vfio =
        [this](BootPhases* phases) -> absl::StatusOr<const VfioHost*> {
      if (vfio_->opened()) return vfio_.get();
      MVM_RETURN_IF_ERROR(vfio_->Open(mem_));
      MarkPhase(phases, "VFIO open");
      MVM_RETURN_IF_ERROR(vfio_->MapEagerly());
      if (!config_.dma_map_overlap) {
        MarkPhase(phases, "DMA map (--dma_map=eager)");
      }
      return vfio_.get();
    };
    return shared;
  }

  // A SIGINT or SIGTERM the ended boot did not read (handle_signals).
  bool StopSignalPending() const {
    sigset_t pending;
    return config_.handle_signals && ::sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGINT) == 1 ||
            sigismember(&pending, SIGTERM) == 1);
  }

  const VmConfig config_;
  // --boot_timer: the first boot's phases, from main() on.
  std::unique_ptr<BootPhases> first_phases_;
  // Run()'s thread's CPUs before the first boot: a boot pins that thread to
  // --cpu_affinity's loop CPU, and the next boot must start from the whole
  // mask (its checks and its unpinned vCPU threads inherit it).
  cpu_set_t start_mask_;
  // null: --seccomp=off.
  std::unique_ptr<sandbox::SeccompFilters> filters_;
  // Run()'s thread is under the VMM filter (seccomp_run_thread).
  bool run_thread_filtered_ = false;
  BootFiles files_;
  GuestMemory mem_;
  // After the memory: unmapped for DMA before it goes.
  std::unique_ptr<VfioHost> vfio_;

  absl::Mutex mu_;
  // The current boot; null only while the next one is built. Replaced on
  // Run()'s thread under mu_, so Stop() from any thread reaches it.
  std::unique_ptr<Machine> machine_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // The ended boot's, while the next one is built (or failed to be).
  VmStats last_stats_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<VmExit> VmImpl::Run() {
  // The VMM thread's filter, right after the first boot's vCPU threads are
  // made and before they enter the guest (Machine::Run's gate): they have
  // their own filter only, so KVM_RUN runs one filter, not this thread's
  // under theirs. The vCPU threads of a boot
  // after a reset (--on_reboot=restart) are made by the filtered thread and
  // run both (their list is within the VMM's: seccomp_policy_test).
  auto filter_run_thread = [this]() -> absl::Status {
    if (config_.seccomp_run_thread && filters_ != nullptr && !run_thread_filtered_) {
      MVM_RETURN_IF_ERROR(filters_->Install(sandbox::ThreadKind::kVmm, "vmm"));
      run_thread_filtered_ = true;
    }
    return absl::OkStatus();
  };
  while (true) {
    absl::StatusOr<VmExit> exit = machine_->Run(filter_run_thread);
    if (!config_.restart_on_reset || !exit.ok() || *exit != VmExit::kReset ||
        machine_->shutdown_requested()) {
      return exit;
    }
    std::unique_ptr<Machine> ended;
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return VmExit::kStopped;
      last_stats_ = machine_->Stats();
      ended = std::move(machine_);
      Message(absl::StrFormat(
          "the guest reset: booting it again (boot %d, --on_reboot=restart)",
          last_stats_.boots + 1));
    }
    ended.reset();
    // A signal that came as the boot ended stops microvm now, instead of
    // pressing the power button of a guest that is not up yet.
    if (StopSignalPending()) return VmExit::kStopped;
    (void)::sched_setaffinity(0, sizeof(start_mask_), &start_mask_);
    const int boot = last_stats_.boots + 1;  // Run()'s thread alone writes it
    absl::StatusOr<std::unique_ptr<Machine>> next =
        Boot(boot, config_, mem_, files_, Shared(),
             config_.boot_timer_start.has_value()
                 ? std::make_unique<BootPhases>(BootPhases::Clock::now())
                 : nullptr);
    if (!next.ok()) {
      return Annotate(next.status(), absl::StrCat("booting again after the "
                                                  "guest's reset (boot ",
                                                  boot, ")"));
    }
    absl::MutexLock lock(&mu_);
    machine_ = std::move(*next);
    if (stopped_) return VmExit::kStopped;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Vm>> Vm::Create(const VmConfig& config) {
  std::unique_ptr<BootPhases> phases;
  if (config.boot_timer_start.has_value()) {
    phases = std::make_unique<BootPhases>(*config.boot_timer_start);
    if (config.boot_timer_before_start.has_value()) {
      phases->Add("process start to main", *config.boot_timer_before_start);
    }
  }
  MarkPhase(phases.get(), "flags");
  MVM_ASSIGN_OR_RETURN(GuestMemory mem,
                       GuestMemory::Create(config.mem_bytes, config.hugepages));
  MarkPhase(phases.get(), "guest memory");
  auto vm = std::make_unique<VmImpl>(config, std::move(mem), std::move(phases));
  MVM_RETURN_IF_ERROR(vm->FirstBoot());
  return vm;
}

}  // namespace microvm
