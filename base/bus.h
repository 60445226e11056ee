// SPDX-License-Identifier: Apache-2.0
// An address space of non-overlapping ranges, each served by one device.
// The VMM has two: port I/O (16-bit addresses) and MMIO (guest physical).
// Every change (Register, Unregister: set-up, and a BAR the guest moves)
// publishes an immutable snapshot of the ranges, sorted by base; an access
// is a binary search in the snapshot: O(log n). A vCPU thread dispatches
// through its own Bus::Dispatcher, which keeps the snapshot it last saw and
// takes the bus's lock only when a change made it stale: its exits cost no
// lock, no allocation and no reference-count traffic, only the device's own
// work and one relaxed counter. A device stays alive while a snapshot that
// names it does (shared ownership), so a range removed while a vCPU is in
// its handler is safe. Every access is counted, per label (for --stats): a
// label keeps its counts when its range moves (a BAR the guest reprograms).
#ifndef MICROVM_BASE_BUS_H_
#define MICROVM_BASE_BUS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace microvm {

// One handler type for both buses. `offset` is relative to the start of the
// range the device was registered at; `data` holds 1, 2, 4 or 8 bytes in guest
// (little-endian) order. Handlers run on vCPU threads, possibly several at
// once, so devices guard their own state.
class BusDevice {
 public:
  virtual ~BusDevice() = default;
  virtual void Read(uint64_t offset, absl::Span<uint8_t> data) = 0;
  virtual void Write(uint64_t offset, absl::Span<const uint8_t> data) = 0;
};

// A range's access counts. Relaxed: counters, read while vCPUs run
// (several may share a range).
struct BusCounters {
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
};

// The ranges at one moment, sorted by base, never changed once published.
struct BusSnapshot {
  struct Entry {
    uint64_t base;
    uint64_t size;
    BusDevice* device;      // owned by `devices`
    BusCounters* counters;  // owned by `counters`
  };
  std::vector<Entry> entries;
  std::vector<std::shared_ptr<BusDevice>> devices;
  std::vector<std::shared_ptr<BusCounters>> counters;
};

class Bus {
 public:
  explicit Bus(std::string name);

  // Fails with AlreadyExists if [base, base+size) overlaps a registered range,
  // InvalidArgument if size is 0 or the range wraps.
  absl::Status Register(uint64_t base, uint64_t size,
                        std::shared_ptr<BusDevice> device, std::string label);
  // Removes the range that starts exactly at `base`.
  absl::Status Unregister(uint64_t base);

  // Dispatch an access. Returns false when no single range covers all of
  // [addr, addr+size): reads then see all-ones, like a PC with nothing there.
  bool Read(uint64_t addr, absl::Span<uint8_t> data) const;
  bool Write(uint64_t addr, absl::Span<const uint8_t> data) const;

  size_t size() const;

  // One thread's dispatch (a vCPU's): Read/Write as the bus's, without its
  // lock while the ranges do not change. Not thread-safe; the bus must
  // outlive it. It holds the devices of the snapshot it last used until its
  // next access after a change, or its end.
  class Dispatcher {
   public:
    explicit Dispatcher(const Bus& bus) : bus_(bus) {}
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    bool Read(uint64_t addr, absl::Span<uint8_t> data);
    bool Write(uint64_t addr, absl::Span<const uint8_t> data);
    const Bus& bus() const { return bus_; }

   private:
    // The bus's snapshot, fetched again only when a change made ours stale.
    const BusSnapshot& Current();

    const Bus& bus_;
    std::shared_ptr<const BusSnapshot> snapshot_;
    uint64_t generation_ = 0;  // the bus's starts at 1
  };

  // Accesses so far, one entry per label (current ranges and removed ones),
  // sorted by label, and accesses no range covered.
  struct LabelCounts {
    std::string label;
    uint64_t reads = 0;
    uint64_t writes = 0;
  };
  struct Counts {
    std::vector<LabelCounts> labels;
    uint64_t unclaimed_reads = 0;
    uint64_t unclaimed_writes = 0;
  };
  Counts counts() const;
  const std::string& name() const { return name_; }

 private:
  friend class Dispatcher;
  struct Range {
    uint64_t size;
    std::shared_ptr<BusDevice> device;
    std::string label;
    // The label's, shared with every snapshot that names the range.
    std::shared_ptr<BusCounters> counters;
  };
  // Rebuilds snapshot_ from ranges_ and bumps generation_.
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The current snapshot (takes the lock).
  std::shared_ptr<const BusSnapshot> Snapshot(uint64_t* generation) const;
  // Dispatches one access through `snapshot`.
  bool Access(const BusSnapshot& snapshot, uint64_t addr, absl::Span<uint8_t> read,
              absl::Span<const uint8_t> write, bool is_write) const;

  const std::string name_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Range> ranges_ ABSL_GUARDED_BY(mu_);
  // Every label's counters, ranges present and removed: a range that moves
  // keeps counting into the same ones, even from a stale snapshot.
  std::map<std::string, std::shared_ptr<BusCounters>> labels_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const BusSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  // Bumped (release) after each new snapshot; Dispatchers compare (acquire).
  std::atomic<uint64_t> generation_{0};
  mutable std::atomic<uint64_t> unclaimed_reads_{0};
  mutable std::atomic<uint64_t> unclaimed_writes_{0};
};

}  // namespace microvm

#endif  // MICROVM_BASE_BUS_H_
