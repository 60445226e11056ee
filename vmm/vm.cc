// SPDX-License-Identifier: Apache-2.0
#include "vmm/vm.h"

#include <signal.h>
#include <sys/signalfd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "base/epoll_loop.h"
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
#include "vmm/boot/mptable.h"
#include "vmm/kvm/kvm.h"
#include "vmm/irq_router.h"
#include "vmm/legacy_devices.h"
#include "vmm/memslots.h"
#include "vmm/passthrough.h"
#include "vmm/platform.h"
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

class VmImpl final : public Vm {
 public:
  VmImpl(Kvm kvm, KvmVm vm, GuestMemory mem, std::unique_ptr<EpollLoop> loop)
      : kvm_(std::move(kvm)),
        vm_(std::move(vm)),
        mem_(std::move(mem)),
        loop_(std::move(loop)) {}

  ~VmImpl() override {
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

  absl::StatusOr<VmExit> Run() override;
  void Stop() override { End(VmExit::kStopped); }

 private:
  void End(absl::StatusOr<VmExit> result);
  absl::Status SetUpVcpu(KvmVcpu& vcpu, uint32_t index, uint32_t count,
                         const std::vector<kvm_cpuid_entry2>& cpuid,
                         const boot::BootInfo& boot);
  absl::Status WatchSignals();
  absl::Status SetUpPci(const VmConfig& config, const boot::BootInfo& boot);

  Kvm kvm_;
  KvmVm vm_;
  GuestMemory mem_;
  std::unique_ptr<Memslots> memslots_;
  std::unique_ptr<EpollLoop> loop_;
  std::unique_ptr<IrqRouter> irqs_;
  Bus pio_{"PIO"};
  Bus mmio_{"MMIO"};
  // After the buses and the interrupt router: it unregisters from the first
  // and its devices hold vectors of the second.
  // Container and DMA mappings outlive the devices, which the root owns.
  std::unique_ptr<Passthrough> passthrough_;
  std::unique_ptr<pci::PciRoot> pci_;
  uint32_t phys_bits_ = 36;
  std::unique_ptr<LegacyDevices> devices_;
  UniqueFd signal_fd_;
  EventLoop::Watch signal_watch_;
  std::optional<BootTimer::Clock::time_point> boot_timer_start_;
  // Declared last: destroyed (stopped and joined) first.
  std::vector<std::unique_ptr<VcpuThread>> vcpus_;

  absl::Mutex mu_;
  std::optional<absl::StatusOr<VmExit>> result_ ABSL_GUARDED_BY(mu_);
};

absl::Status VmImpl::SetUpVcpu(KvmVcpu& vcpu, uint32_t index, uint32_t count,
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
absl::Status VmImpl::SetUpPci(const VmConfig& config,
                              const boot::BootInfo& boot) {
  MVM_ASSIGN_OR_RETURN(pci_, pci::PciRoot::Create(pio_, mmio_, *irqs_));
  for (const PciDeviceFactory& make : config.pci_devices) {
    MVM_ASSIGN_OR_RETURN(std::shared_ptr<pci::PciDevice> device, make(*irqs_));
    MVM_RETURN_IF_ERROR(pci_->AddDevice(std::move(device)).status());
  }
  if (!config.vfio_devices.empty()) {
    vfio_pci::Context context{*irqs_, *memslots_, *loop_};
    if (config.vfio_intx_userspace) {
      context.intx_mode = vfio_pci::IntxMode::kUserspace;
    }
    context.mmap_bars = config.vfio_mmap;
    // The host wants a device back: end the VM, whose teardown turns the
    // device's interrupts off and closes its fds, which lets the host's
    // unbind finish. (Its function reset fails on this path, quietly: the
    // unbind holds the device lock, so pci_try_reset_function gives up.)
    auto on_request = [this](const std::string& address) {
      std::fprintf(stderr,
                   "microvm: the host is taking PCI device %s back (it is being "
                   "unbound from vfio-pci): stopping the VM and releasing the "
                   "device\n",
                   address.c_str());
      End(VmExit::kDeviceRequested);
    };
    MVM_ASSIGN_OR_RETURN(passthrough_,
                         Passthrough::Create(config.vfio_devices, mem_, *pci_,
                                             context, on_request));
  }
  // The 64-bit window starts at the first 1 GiB boundary above RAM (and
  // above 4 GiB) and is as large as the guest's physical address width
  // allows, up to kMmio64MaxSize.
  pci::BarWindows windows;
  windows.mmio64_base = std::max<uint64_t>(mem_.end(), layout::kHighRamStart);
  windows.mmio64_base = (windows.mmio64_base + layout::kGiB - 1) &
                        ~(layout::kGiB - 1);
  const uint64_t limit = uint64_t{1} << phys_bits_;
  windows.mmio64_size =
      limit > windows.mmio64_base
          ? std::min(kMmio64MaxSize, limit - windows.mmio64_base)
          : 0;
  MVM_RETURN_IF_ERROR(pci_->AssignBars(windows));

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

absl::Status VmImpl::WatchSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  signal_fd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd_) return LastErrnoError("signalfd(SIGINT, SIGTERM)");
  MVM_ASSIGN_OR_RETURN(signal_watch_,
                       loop_->Add(signal_fd_.get(), [this](uint32_t) {
                         signalfd_siginfo info;
                         while (::read(signal_fd_.get(), &info,
                                       sizeof(info)) == sizeof(info)) {
                         }
                         End(VmExit::kStopped);
                       }));
  return absl::OkStatus();
}

// Set-up order matters to KVM: TSS and identity map, irqchip, PIT, memory,
// then vCPUs (which need the irqchip to exist to get an in-kernel LAPIC).
absl::Status VmImpl::Build(const VmConfig& config,
                           const boot::BootInfo& boot) {
  if (config.cpus < 1 || config.cpus > kvm_.max_vcpus()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--cpus ", config.cpus, " is out of range: this host's ",
                     "KVM runs 1 to ", kvm_.max_vcpus(), " vCPUs"));
  }
  MVM_ASSIGN_OR_RETURN(irqs_, CreateX86Platform(kvm_, vm_));
  MVM_ASSIGN_OR_RETURN(std::vector<kvm_cpuid_entry2> cpuid,
                       kvm_.SupportedCpuid());
  phys_bits_ = x86::PhysAddressBits(cpuid);
  memslots_ = std::make_unique<Memslots>(
      vm_, static_cast<uint32_t>(kvm_.CheckExtension(KVM_CAP_NR_MEMSLOTS)));
  MVM_RETURN_IF_ERROR(memslots_->MapRam(mem_));
  // After the memslots: passed-through BARs become memslots of their own.
  MVM_RETURN_IF_ERROR(SetUpPci(config, boot));

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
            [](uint8_t marker, absl::Duration since, bool last) {
              std::fprintf(stderr, "microvm: %s\n",
                           BootTimer::Describe(marker, since, last).c_str());
            }),
        "boot timer"));
  }

  MVM_RETURN_IF_ERROR(VcpuThread::InstallKickHandler());
  for (int i = 0; i < config.cpus; ++i) {
    MVM_ASSIGN_OR_RETURN(std::unique_ptr<KvmVcpu> vcpu,
                         vm_.CreateVcpu(kvm_, i));
    MVM_RETURN_IF_ERROR(SetUpVcpu(*vcpu, i, config.cpus, cpuid, boot));
    vcpus_.push_back(std::make_unique<VcpuThread>(
        std::move(vcpu), pio_, mmio_, mem_,
        [this](absl::StatusOr<VmExit> r) { End(std::move(r)); }));
  }
  return absl::OkStatus();
}

void VmImpl::End(absl::StatusOr<VmExit> result) {
  {
    absl::MutexLock lock(&mu_);
    if (result_.has_value()) return;
    result_ = std::move(result);
  }
  // Stop every vCPU now, so that none re-enters the guest after it asked to
  // power off or reset (the asking vCPU returns from its exit handler into a
  // stopped loop).
  for (auto& v : vcpus_) v->Stop();
  loop_->Stop(0);
}

absl::StatusOr<VmExit> VmImpl::Run() {
  if (boot_timer_start_.has_value()) {
    std::fprintf(stderr,
                 "microvm: boot timer: vCPUs start at %.3f ms after microvm "
                 "started\n",
                 absl::ToDoubleMilliseconds(absl::FromChrono(
                     BootTimer::Clock::now() - *boot_timer_start_)));
  }
  for (auto& v : vcpus_) v->Start();
  absl::StatusOr<int> loop_result = loop_->Run();
  for (auto& v : vcpus_) v->Stop();
  for (auto& v : vcpus_) v->Join();
  if (!loop_result.ok()) return loop_result.status();
  absl::MutexLock lock(&mu_);
  return result_.value_or(VmExit::kStopped);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Vm>> Vm::Create(const VmConfig& config) {
  // Guest memory and everything written into it come first: a bad kernel,
  // initrd or command line is reported before KVM is even opened, so those
  // errors are the same on every host.
  MVM_ASSIGN_OR_RETURN(GuestMemory mem,
                       GuestMemory::Create(config.mem_bytes, config.hugepages));
  boot::LoadOptions load;
  load.kernel_path = config.kernel_path;
  load.initrd_path = config.initrd_path;
  load.cmdline = config.cmdline;
  load.cpus = config.cpus;
  MVM_ASSIGN_OR_RETURN(boot::BootInfo boot, boot::LoadKernel(mem, load));
  MVM_RETURN_IF_ERROR(x86::WriteBootTables(mem));

  MVM_ASSIGN_OR_RETURN(Kvm kvm, Kvm::Open(config.kvm_device));
  MVM_ASSIGN_OR_RETURN(KvmVm vm, KvmVm::Create(kvm));
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<EpollLoop> loop, EpollLoop::Create());
  auto impl = std::make_unique<VmImpl>(std::move(kvm), std::move(vm),
                                       std::move(mem), std::move(loop));
  MVM_RETURN_IF_ERROR(impl->Build(config, boot));
  return impl;
}

}  // namespace microvm
