// SPDX-License-Identifier: Apache-2.0
#include "vmm/kvm/kvm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/ioctl.h"
#include "base/remedies.h"
#include "base/status.h"

namespace microvm {
namespace {

struct RequiredCap {
  long cap;
  const char* name;
};

// Everything microvm uses unconditionally. Checked up front so a missing
// feature is one clear error instead of a later EINVAL.
constexpr RequiredCap kRequiredCaps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"},
};

template <typename Flex, typename Entry>
struct FlexBuffer {
  // kvm_cpuid2 and kvm_msrs end in a flexible array; keep header and entries
  // in one properly aligned allocation.
  explicit FlexBuffer(size_t n)
      : storage((sizeof(Flex) + n * sizeof(Entry) + sizeof(uint64_t) - 1) /
                sizeof(uint64_t)) {}
  Flex* get() { return reinterpret_cast<Flex*>(storage.data()); }
  std::vector<uint64_t> storage;
};

}  // namespace

absl::StatusOr<Kvm> Kvm::Open(const std::string& path) {
  int raw = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (raw < 0) {
    int err = errno;
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(
          path, " does not exist: this host has no KVM (load kvm-intel or "
                "kvm-amd, enable virtualization in firmware, or run microvm "
                "in the nested lab: tools/main_job.sh)"));
    }
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat(
          "cannot open ", path,
          ": permission denied (", remedy::kKvmAccess, ")"));
    }
    return ErrnoError(err, absl::StrCat("opening ", path));
  }
  Kvm kvm{UniqueFd(raw)};
  absl::StatusOr<int> version_or = MVM_IOCTL(kvm.fd(), KVM_GET_API_VERSION, 0);
  if (!version_or.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a KVM device (",
                     version_or.status().message(), ")"));
  }
  const int version = *version_or;
  if (version != KVM_API_VERSION) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s speaks KVM API %d, microvm needs %d", path,
                        version, KVM_API_VERSION));
  }
  for (const RequiredCap& c : kRequiredCaps) {
    if (kvm.CheckExtension(c.cap) <= 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("this KVM lacks ", c.name,
                       ", which microvm needs (a newer host kernel has it)"));
    }
  }
  int max = kvm.CheckExtension(KVM_CAP_MAX_VCPUS);
  if (max <= 0) max = kvm.CheckExtension(KVM_CAP_NR_VCPUS);
  kvm.max_vcpus_ = max > 0 ? max : 1;
  MVM_ASSIGN_OR_RETURN(int mmap_size,
                       MVM_IOCTL(kvm.fd(), KVM_GET_VCPU_MMAP_SIZE, 0));
  kvm.vcpu_mmap_size_ = static_cast<size_t>(mmap_size);
  return kvm;
}

int Kvm::CheckExtension(long cap) const {
  absl::StatusOr<int> r = MVM_IOCTL(fd(), KVM_CHECK_EXTENSION, cap);
  return r.ok() ? *r : 0;
}

absl::StatusOr<std::vector<kvm_cpuid_entry2>> Kvm::SupportedCpuid() const {
  // The kernel answers E2BIG while the buffer is too small.
  for (size_t n = 128; n <= 4096; n *= 2) {
    FlexBuffer<kvm_cpuid2, kvm_cpuid_entry2> buf(n);
    buf.get()->nent = static_cast<uint32_t>(n);
    long r = internal::RawIoctl(fd(), KVM_GET_SUPPORTED_CPUID,
                                reinterpret_cast<uintptr_t>(buf.get()));
    if (r == -E2BIG) continue;
    if (r < 0) return internal::IoctlError("KVM_GET_SUPPORTED_CPUID", r);
    return std::vector<kvm_cpuid_entry2>(buf.get()->entries,
                                         buf.get()->entries + buf.get()->nent);
  }
  return absl::ResourceExhaustedError(
      "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

Memslot::Memslot(Memslot&& other) noexcept
    : vm_fd_(std::exchange(other.vm_fd_, -1)), slot_(other.slot_) {}

Memslot& Memslot::operator=(Memslot&& other) noexcept {
  if (this != &other) {
    Reset();
    vm_fd_ = std::exchange(other.vm_fd_, -1);
    slot_ = other.slot_;
  }
  return *this;
}

Memslot::~Memslot() { Reset(); }

void Memslot::Reset() {
  if (vm_fd_ < 0) return;
  // A zero-sized region deletes the slot (KVM API: KVM_SET_USER_MEMORY_REGION).
  kvm_userspace_memory_region region{};
  region.slot = slot_;
  (void)MVM_IOCTL(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region);
  vm_fd_ = -1;
}

absl::StatusOr<KvmVm> KvmVm::Create(const Kvm& kvm) {
  absl::StatusOr<int> fd = MVM_IOCTL(kvm.fd(), KVM_CREATE_VM, 0);
  if (!fd.ok()) return fd.status();
  return KvmVm(UniqueFd(*fd));
}

absl::Status KvmVm::SetTssAddr(uint64_t gpa) {
  return MVM_IOCTL(fd(), KVM_SET_TSS_ADDR, gpa).status();
}

absl::Status KvmVm::SetIdentityMapAddr(uint64_t gpa) {
  uint64_t addr = gpa;
  return MVM_IOCTL(fd(), KVM_SET_IDENTITY_MAP_ADDR, &addr).status();
}

absl::Status KvmVm::CreateIrqchip() {
  return MVM_IOCTL(fd(), KVM_CREATE_IRQCHIP, 0).status();
}

absl::Status KvmVm::EnableCap(uint32_t cap, uint64_t arg) {
  kvm_enable_cap enable{};
  enable.cap = cap;
  enable.args[0] = arg;
  return MVM_IOCTL(fd(), KVM_ENABLE_CAP, &enable).status();
}

absl::Status KvmVm::CreatePit() {
  kvm_pit_config config{};
  // Port 0x61 speaker bits are emulated by KVM too (Linux's PIT calibration
  // reads the channel 2 output there).
  config.flags = KVM_PIT_SPEAKER_DUMMY;
  return MVM_IOCTL(fd(), KVM_CREATE_PIT2, &config).status();
}

absl::StatusOr<Memslot> KvmVm::MapMemory(uint32_t slot, uint64_t gpa,
                                         uint64_t size, void* host,
                                         bool read_only) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = read_only ? KVM_MEM_READONLY : 0;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  absl::StatusOr<int> r = MVM_IOCTL(fd(), KVM_SET_USER_MEMORY_REGION, &region);
  if (!r.ok()) {
    return Annotate(r.status(),
                    absl::StrFormat("memslot %d at GPA 0x%x size 0x%x", slot,
                                    gpa, size));
  }
  return Memslot(fd(), slot);
}

absl::Status KvmVm::SetIrqLine(uint32_t gsi, bool level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  return MVM_IOCTL(fd(), KVM_IRQ_LINE, &irq).status();
}

absl::Status KvmVm::SetGsiRouting(
    const std::vector<kvm_irq_routing_entry>& routes) {
  FlexBuffer<kvm_irq_routing, kvm_irq_routing_entry> buf(routes.size());
  buf.get()->nr = static_cast<uint32_t>(routes.size());
  std::memcpy(buf.get()->entries, routes.data(),
              routes.size() * sizeof(kvm_irq_routing_entry));
  return MVM_IOCTL(fd(), KVM_SET_GSI_ROUTING, buf.get()).status();
}

absl::Status KvmVm::AssignIrqfd(int fd, uint32_t gsi, int resample_fd) {
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(fd);
  irqfd.gsi = gsi;
  if (resample_fd >= 0) {
    irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
    irqfd.resamplefd = static_cast<uint32_t>(resample_fd);
  }
  return Annotate(MVM_IOCTL(this->fd(), KVM_IRQFD, &irqfd).status(),
                  absl::StrCat("GSI ", gsi));
}

absl::Status KvmVm::DeassignIrqfd(int fd, uint32_t gsi) {
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(fd);
  irqfd.gsi = gsi;
  irqfd.flags = KVM_IRQFD_FLAG_DEASSIGN;
  return MVM_IOCTL(this->fd(), KVM_IRQFD, &irqfd).status();
}

namespace {
kvm_ioeventfd MakeIoeventfd(int fd, uint64_t addr, uint32_t len, bool pio) {
  kvm_ioeventfd e{};
  e.fd = fd;
  e.addr = addr;
  e.len = len;
  e.flags = pio ? KVM_IOEVENTFD_FLAG_PIO : 0;
  return e;
}
}  // namespace

absl::Status KvmVm::AssignIoeventfd(int fd, uint64_t addr, uint32_t len,
                                    bool pio) {
  kvm_ioeventfd e = MakeIoeventfd(fd, addr, len, pio);
  return MVM_IOCTL(this->fd(), KVM_IOEVENTFD, &e).status();
}

absl::Status KvmVm::DeassignIoeventfd(int fd, uint64_t addr, uint32_t len,
                                      bool pio) {
  kvm_ioeventfd e = MakeIoeventfd(fd, addr, len, pio);
  e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  return MVM_IOCTL(this->fd(), KVM_IOEVENTFD, &e).status();
}

absl::Status KvmVm::SignalMsi(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  // Returns 0 when the guest blocked the interrupt; that is not an error.
  return MVM_IOCTL(fd(), KVM_SIGNAL_MSI, &msi).status();
}

absl::StatusOr<std::unique_ptr<KvmVcpu>> KvmVm::CreateVcpu(const Kvm& kvm,
                                                           uint32_t id) {
  absl::StatusOr<int> fd = MVM_IOCTL(this->fd(), KVM_CREATE_VCPU, id);
  if (!fd.ok()) return Annotate(fd.status(), absl::StrCat("vCPU ", id));
  UniqueFd owned(*fd);
  void* run = ::mmap(nullptr, kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE,
                     MAP_SHARED, owned.get(), 0);
  if (run == MAP_FAILED) {
    return LastErrnoError(absl::StrCat("mapping kvm_run of vCPU ", id));
  }
  auto vcpu = std::unique_ptr<KvmVcpu>(new KvmVcpu(
      std::move(owned), id, static_cast<kvm_run*>(run), kvm.vcpu_mmap_size()));
  // Now, while no KVM_RUN holds the vCPU's lock: every vCPU ioctl waits for
  // it, reads of the stats fd do not. Older kernels have none (then no
  // KVM counters).
  absl::StatusOr<int> stats = MVM_IOCTL(vcpu->fd(), KVM_GET_STATS_FD, 0);
  if (stats.ok()) vcpu->stats_fd_.reset(*stats);
  return vcpu;
}

KvmVcpu::~KvmVcpu() { ::munmap(run_, run_size_); }

long KvmVcpu::Run() { return internal::RawIoctl(fd(), KVM_RUN, 0); }

absl::StatusOr<kvm_regs> KvmVcpu::GetRegs() const {
  kvm_regs regs{};
  MVM_RETURN_IF_ERROR(MVM_IOCTL(fd(), KVM_GET_REGS, &regs).status());
  return regs;
}

absl::Status KvmVcpu::SetRegs(const kvm_regs& regs) {
  return MVM_IOCTL(fd(), KVM_SET_REGS, &regs).status();
}

absl::StatusOr<kvm_sregs> KvmVcpu::GetSregs() const {
  kvm_sregs sregs{};
  MVM_RETURN_IF_ERROR(MVM_IOCTL(fd(), KVM_GET_SREGS, &sregs).status());
  return sregs;
}

absl::Status KvmVcpu::SetSregs(const kvm_sregs& sregs) {
  return MVM_IOCTL(fd(), KVM_SET_SREGS, &sregs).status();
}

absl::Status KvmVcpu::SetFpu(const kvm_fpu& fpu) {
  return MVM_IOCTL(fd(), KVM_SET_FPU, &fpu).status();
}

absl::Status KvmVcpu::SetCpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  FlexBuffer<kvm_cpuid2, kvm_cpuid_entry2> buf(entries.size());
  buf.get()->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.get()->entries, entries.data(),
              entries.size() * sizeof(kvm_cpuid_entry2));
  return MVM_IOCTL(fd(), KVM_SET_CPUID2, buf.get()).status();
}

absl::Status KvmVcpu::SetMsrs(const std::vector<kvm_msr_entry>& msrs) {
  FlexBuffer<kvm_msrs, kvm_msr_entry> buf(msrs.size());
  buf.get()->nmsrs = static_cast<uint32_t>(msrs.size());
  std::memcpy(buf.get()->entries, msrs.data(),
              msrs.size() * sizeof(kvm_msr_entry));
  MVM_ASSIGN_OR_RETURN(int set, MVM_IOCTL(fd(), KVM_SET_MSRS, buf.get()));
  // KVM_SET_MSRS returns how many it set; it stops at the first it rejects.
  if (set != static_cast<int>(msrs.size())) {
    return absl::InternalError(absl::StrFormat(
        "KVM_SET_MSRS: KVM rejected MSR 0x%x (set %d of %d)",
        msrs[set].index, set, msrs.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<kvm_lapic_state> KvmVcpu::GetLapic() const {
  kvm_lapic_state lapic{};
  MVM_RETURN_IF_ERROR(MVM_IOCTL(fd(), KVM_GET_LAPIC, &lapic).status());
  return lapic;
}

absl::Status KvmVcpu::SetLapic(const kvm_lapic_state& lapic) {
  return MVM_IOCTL(fd(), KVM_SET_LAPIC, &lapic).status();
}

absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>>
KvmVcpu::KvmStats() const {
  if (!stats_fd_) {
    return absl::UnimplementedError(
        "this KVM has no statistics fd (KVM_GET_STATS_FD, Linux 5.14+)");
  }
  const int fd = stats_fd_.get();
  kvm_stats_header header;
  if (::pread(fd, &header, sizeof(header), 0) != sizeof(header)) {
    return LastErrnoError("reading KVM's vCPU statistics header");
  }
  // Descriptors: each a kvm_stats_desc followed by its name (name_size).
  const size_t desc_size = sizeof(kvm_stats_desc) + header.name_size;
  std::vector<char> descs(desc_size * header.num_desc);
  if (::pread(fd, descs.data(), descs.size(), header.desc_offset) !=
      static_cast<ssize_t>(descs.size())) {
    return LastErrnoError("reading KVM's vCPU statistics descriptors");
  }
  std::vector<std::pair<std::string, uint64_t>> stats;
  for (uint32_t i = 0; i < header.num_desc; ++i) {
    const char* at = descs.data() + i * desc_size;
    kvm_stats_desc desc;
    std::memcpy(&desc, at, sizeof(desc));
    if ((desc.flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE ||
        desc.size != 1) {
      continue;
    }
    uint64_t value = 0;
    if (::pread(fd, &value, sizeof(value), header.data_offset + desc.offset) !=
        sizeof(value)) {
      return LastErrnoError("reading KVM's vCPU statistics");
    }
    const char* name = at + sizeof(kvm_stats_desc);
    stats.emplace_back(std::string(name, strnlen(name, header.name_size)),
                       value);
  }
  return stats;
}

}  // namespace microvm
