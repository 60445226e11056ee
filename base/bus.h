// SPDX-License-Identifier: Apache-2.0
// An address space of non-overlapping ranges, each served by one device.
// The VMM has two: port I/O (16-bit addresses) and MMIO (guest physical).
// Lookup is an ordered-map search for the last range starting at or below the
// address: O(log n). A device stays alive while a vCPU is inside its handler
// even if the range is removed concurrently (shared ownership).
#ifndef MICROVM_BASE_BUS_H_
#define MICROVM_BASE_BUS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

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

 private:
  struct Range {
    uint64_t size;
    std::shared_ptr<BusDevice> device;
    std::string label;
  };
  // The device covering [addr, addr+len) and the offset within it.
  std::shared_ptr<BusDevice> Find(uint64_t addr, uint64_t len,
                                  uint64_t* offset) const;

  const std::string name_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, Range> ranges_ ABSL_GUARDED_BY(mu_);
};

}  // namespace microvm

#endif  // MICROVM_BASE_BUS_H_
