// SPDX-License-Identifier: Apache-2.0
// RAII owners for the KVM system fd, a VM fd and vCPU fds. Every KVM ioctl in
// microvm is issued from here (through base/ioctl.h).
#ifndef MICROVM_VMM_KVM_KVM_H_
#define MICROVM_VMM_KVM_KVM_H_

#include "base/linux_uapi.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace microvm {

class KvmVm;
class KvmVcpu;

// /dev/kvm.
class Kvm {
 public:
  // Opens `path` and checks the API version and every capability microvm
  // relies on; a missing one is a clear error naming it.
  static absl::StatusOr<Kvm> Open(const std::string& path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION; 0 when absent.
  int CheckExtension(long cap) const;
  int max_vcpus() const { return max_vcpus_; }
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // KVM_GET_SUPPORTED_CPUID.
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> SupportedCpuid() const;

 private:
  explicit Kvm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  int max_vcpus_ = 1;
  size_t vcpu_mmap_size_ = 0;
};

// One KVM_SET_USER_MEMORY_REGION slot; removing it on destruction.
class Memslot {
 public:
  Memslot() = default;
  Memslot(Memslot&& other) noexcept;
  Memslot& operator=(Memslot&& other) noexcept;
  ~Memslot();
  uint32_t slot() const { return slot_; }

 private:
  friend class KvmVm;
  Memslot(int vm_fd, uint32_t slot) : vm_fd_(vm_fd), slot_(slot) {}
  void Reset();  // deletes the slot, if any
  int vm_fd_ = -1;
  uint32_t slot_ = 0;
};

class KvmVm {
 public:
  static absl::StatusOr<KvmVm> Create(const Kvm& kvm);

  int fd() const { return fd_.get(); }

  // x86 platform set-up, in the order KVM wants it: TSS and identity map
  // before the first vCPU, irqchip before vCPUs, PIT after the irqchip.
  absl::Status SetTssAddr(uint64_t gpa);
  absl::Status SetIdentityMapAddr(uint64_t gpa);
  absl::Status CreateIrqchip();
  absl::Status CreatePit();

  absl::StatusOr<Memslot> MapMemory(uint32_t slot, uint64_t gpa,
                                    uint64_t size, void* host,
                                    bool read_only = false);
  // KVM_IRQ_LINE on a GSI (IOAPIC pin / PIC line).
  absl::Status SetIrqLine(uint32_t gsi, bool level);

  // KVM_SET_GSI_ROUTING: replaces the whole routing table.
  absl::Status SetGsiRouting(const std::vector<kvm_irq_routing_entry>& routes);
  // KVM_IRQFD: signalling `fd` raises `gsi`. With `resample_fd` >= 0 the GSI
  // is level-triggered: KVM lowers it and signals `resample_fd` when the
  // guest EOIs (KVM_IRQFD_FLAG_RESAMPLE).
  absl::Status AssignIrqfd(int fd, uint32_t gsi, int resample_fd = -1);
  absl::Status DeassignIrqfd(int fd, uint32_t gsi);
  // KVM_IOEVENTFD: a guest write of `len` bytes at `addr` (PIO when `pio`)
  // signals `fd` in the kernel instead of exiting to the VMM.
  absl::Status AssignIoeventfd(int fd, uint64_t addr, uint32_t len, bool pio);
  absl::Status DeassignIoeventfd(int fd, uint64_t addr, uint32_t len,
                                 bool pio);
  // KVM_SIGNAL_MSI: injects one message-signalled interrupt.
  absl::Status SignalMsi(uint64_t address, uint32_t data);

  absl::StatusOr<std::unique_ptr<KvmVcpu>> CreateVcpu(const Kvm& kvm,
                                                      uint32_t id);

  // KVM_ENABLE_CAP on the VM (e.g. KVM_CAP_HALT_POLL, arg = nanoseconds;
  // KVM_CAP_X86_DISABLE_EXITS, arg = KVM_X86_DISABLE_EXITS_* bits, before
  // any vCPU exists).
  absl::Status EnableCap(uint32_t cap, uint64_t arg);

 private:
  explicit KvmVm(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

class KvmVcpu {
 public:
  ~KvmVcpu();
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;

  int fd() const { return fd_.get(); }
  uint32_t id() const { return id_; }
  kvm_run* run() const { return run_; }

  // KVM_RUN. Returns 0, or -errno (EINTR when kicked by a signal) so the run
  // loop can tell a kick from a failure.
  long Run();

  absl::StatusOr<kvm_regs> GetRegs() const;
  absl::Status SetRegs(const kvm_regs& regs);
  absl::StatusOr<kvm_sregs> GetSregs() const;
  absl::Status SetSregs(const kvm_sregs& sregs);
  absl::Status SetFpu(const kvm_fpu& fpu);
  absl::Status SetCpuid(const std::vector<kvm_cpuid_entry2>& entries);
  absl::Status SetMsrs(const std::vector<kvm_msr_entry>& msrs);
  absl::StatusOr<kvm_lapic_state> GetLapic() const;
  absl::Status SetLapic(const kvm_lapic_state& lapic);

  // KVM's own counters for this vCPU (KVM_GET_STATS_FD, Linux 5.14+;
  // Documentation/virt/kvm/api.rst 4.133), the cumulative ones with one
  // value, by name ("exits", "halt_exits", "halt_attempted_poll", ...).
  // Reads the fd opened at creation: never waits for a running vCPU, any
  // thread. Unimplemented on older kernels.
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> KvmStats()
      const;

 private:
  friend class KvmVm;
  KvmVcpu(UniqueFd fd, uint32_t id, kvm_run* run, size_t run_size)
      : fd_(std::move(fd)), id_(id), run_(run), run_size_(run_size) {}
  UniqueFd fd_;
  uint32_t id_;
  kvm_run* run_;
  size_t run_size_;
  UniqueFd stats_fd_;  // KVM_GET_STATS_FD, opened at creation; may be unset
};

}  // namespace microvm

#endif  // MICROVM_VMM_KVM_KVM_H_
