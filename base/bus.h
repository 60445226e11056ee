// SPDX-License-Identifier: Apache-2.0
// An address space of non-overlapping ranges, each served by one device.
// The VMM has two: port I/O (16-bit addresses) and MMIO (guest physical).
// Lookup is an ordered-map search for the last range starting at or below the
// address: O(log n). A device stays alive while a vCPU is inside its handler
// even if the range is removed concurrently (shared ownership). Every access
// is counted, per label (for --stats): a label keeps its counts when its
// range moves (a BAR the guest reprograms).
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

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

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
  struct Range {
    Range(uint64_t size, std::shared_ptr<BusDevice> device, std::string label)
        : size(size), device(std::move(device)), label(std::move(label)) {}
    uint64_t size;
    std::shared_ptr<BusDevice> device;
    std::string label;
    // Relaxed: counters, read while vCPUs run (several may share a range).
    mutable std::atomic<uint64_t> reads{0};
    mutable std::atomic<uint64_t> writes{0};
  };
  // The device covering [addr, addr+len) and the offset within it.
  std::shared_ptr<BusDevice> Find(uint64_t addr, uint64_t len, bool write,
                                  uint64_t* offset) const;

  const std::string name_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Range> ranges_ ABSL_GUARDED_BY(mu_);
  // Counts of removed ranges, by label.
  std::map<std::string, LabelCounts> removed_ ABSL_GUARDED_BY(mu_);
  mutable std::atomic<uint64_t> unclaimed_reads_{0};
  mutable std::atomic<uint64_t> unclaimed_writes_{0};
};

}  // namespace microvm

#endif  // MICROVM_BASE_BUS_H_
