// SPDX-License-Identifier: Apache-2.0
// Guest RAM mapped for device DMA on a thread of its own while the guest
// boots (--dma_map=overlap), and the gate that keeps passed-through devices
// from DMA until that is done.
//
// Pinning is most of passthrough start-up: ~16 ms per GiB of 4 KiB pages on
// hardware, over a second per GiB under the lab's emulated IOMMU. But a PCI
// function cannot master the bus until its Bus Master Enable is set (PCI
// Local Bus 3.0 6.2.2, Command bit 2; an MSI is a bus-master write too,
// 6.8.1.3), and microvm sees that write before the function does: the
// vfio-pci device holds it at a DmaGate until all of guest RAM is mapped.
// Early boot never involves a device, so it runs while the pinning goes on.
//
// The mapping goes in chunks of kChunk, lowest guest-physical address first
// (the kernel, its page tables and boot data live low), each chunk its own
// VFIO_IOMMU_MAP_DMA, so teardown waits for one chunk at most. All or
// nothing: a chunk that fails (memlock limit, IOMMU out of entries) unmaps
// the chunks before it, and the failure is the mapper's result.
//
// Who maps: the mapper's thread, at the lowest CPU priority (nice 19), so
// that where CPUs are scarce the guest's boot goes first and the pinning
// fills the idle time; and any thread that comes to a shut gate (a vCPU
// writing Bus Master Enable), which maps the chunks left itself, at its own
// priority, rather than sleep: once a device needs the memory, the mapping
// goes at full speed. Chunks are claimed one at a time under the lock, so
// both can work at once.
#ifndef MICROVM_DEVICES_VFIO_DMA_MAPPER_H_
#define MICROVM_DEVICES_VFIO_DMA_MAPPER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/event_fd.h"
#include "devices/vfio/container.h"
#include "devices/vfio/dma_gate.h"
#include "devices/vfio/dma_mapping.h"
#include "memory/guest_memory.h"

namespace microvm::vfio {

class DmaMapper {
 public:
  static constexpr uint64_t kChunk = uint64_t{64} << 20;
  using Clock = std::chrono::steady_clock;

  // One boot's gate (a reboot in place gets a new one while the mapping
  // goes on). Close() when the boot ends: its waiters return, and a Wait
  // after that returns at once.
  class Gate final : public DmaGate {
   public:
    explicit Gate(DmaMapper& mapper) : mapper_(mapper) {}
    bool open() const override;
    bool Wait() override;
    void Close();
    // Calls of Wait that blocked (the gate was shut when they came), and
    // how long they blocked in all.
    int waits() const;
    absl::Duration waited() const;

   private:
    friend class DmaMapper;
    DmaMapper& mapper_;
    bool closed_ ABSL_GUARDED_BY(mapper_.mu_) = false;
    int waits_ ABSL_GUARDED_BY(mapper_.mu_) = 0;
    absl::Duration waited_ ABSL_GUARDED_BY(mapper_.mu_);
  };

  struct Progress {
    uint64_t mapped = 0;  // bytes
    uint64_t total = 0;
    absl::Duration elapsed;  // since the first chunk, to the end once it ended
    // When the last chunk was mapped (or the mapping failed).
    std::optional<Clock::time_point> finished;
  };

  // Checks every region of `memory` against the IOMMU (alignment, valid
  // IOVA ranges; an error here is returned and nothing is mapped) and cuts
  // it into chunks to map at IOVA = guest-physical address: by Finish(), a
  // gate's Wait(), and the background thread once Begin() started it.
  // `memory` must outlive the mapper.
  static absl::StatusOr<std::unique_ptr<DmaMapper>> Create(
      std::shared_ptr<Container> container, const GuestMemory& memory);
  // Starts the background thread (once; later calls do nothing). Call it as
  // the vCPUs start: before, the pinning would compete with building the
  // VM where CPUs are few (its GUP batches hold the mm's lock that the
  // VMM's own mmaps need). Not thread-safe against Cancel(): the owner's
  // thread calls both. `on_thread_start` runs first on the new thread (the
  // sandbox's filter for it); if it fails, so does the mapping, with its
  // error.
  void Begin(std::function<absl::Status()> on_thread_start = nullptr);
  // Stops the mapping after the chunks under way and joins the thread; what
  // was mapped stays mapped until the mapper goes. Idempotent.
  void Cancel();
  // Cancel(), then unmaps what was mapped.
  ~DmaMapper();
  DmaMapper(const DmaMapper&) = delete;
  DmaMapper& operator=(const DmaMapper&) = delete;

  // Maps what is left on the calling thread too; returns when the mapping
  // ended: OK, or why it failed.
  absl::Status Finish();
  // OK when done, the failure when failed, nullopt while mapping.
  std::optional<absl::Status> result() const;
  // Readable (and left readable) once the mapping ended, for an event loop:
  // a watch removes itself when it fires.
  int done_fd() const { return done_.fd(); }
  Progress progress() const;

 private:
  struct Chunk {
    uint64_t gpa;
    uint8_t* host;
    uint64_t size;
  };

  DmaMapper(std::shared_ptr<Container> container, std::vector<Chunk> chunks,
            EventFd done);
  // The mapper thread's body.
  void Run(const std::function<absl::Status()>& on_start);
  // Claims the next chunk and maps it; false when there was none to claim
  // (all claimed, the mapping failed or was cancelled, or `gate` is
  // closed). The last thread out of a finished mapping ends it (End).
  bool MapOne(const Gate* gate);
  void End() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits until the mapping ended or `gate` (if any) closed.
  void AwaitEnd(const Gate* gate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::shared_ptr<Container> container_;
  const std::vector<Chunk> chunks_;
  EventFd done_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // mapping ended, or a gate closed
  bool cancel_ ABSL_GUARDED_BY(mu_) = false;
  bool begun_ ABSL_GUARDED_BY(mu_) = false;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // the first chunk not claimed
  // When the first chunk was claimed: the mapping's own time runs from it.
  std::optional<Clock::time_point> start_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // claimed, MAP_DMA under way
  absl::Status failure_ ABSL_GUARDED_BY(mu_);  // the first chunk's that failed
  std::optional<absl::Status> result_ ABSL_GUARDED_BY(mu_);
  Progress progress_ ABSL_GUARDED_BY(mu_);
  std::vector<DmaMapping> mappings_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // Begin()
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_DMA_MAPPER_H_
