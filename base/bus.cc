// SPDX-License-Identifier: Apache-2.0
#include "base/bus.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace microvm {

Bus::Bus(std::string name) : name_(std::move(name)) {
  absl::MutexLock lock(&mu_);
  Publish();
}

void Bus::Publish() {
  auto next = std::make_shared<BusSnapshot>();
  next->entries.reserve(ranges_.size());
  next->devices.reserve(ranges_.size());
  next->counters.reserve(ranges_.size());
  for (const auto& [base, range] : ranges_) {
    next->entries.push_back({base, range.size, range.device.get(), range.counters.get()});
    next->devices.push_back(range.device);
    next->counters.push_back(range.counters);
  }
  snapshot_ = std::move(next);
  generation_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const BusSnapshot> Bus::Snapshot(uint64_t* generation) const {
  absl::ReaderMutexLock lock(&mu_);
  // Read under the lock: a Publish() after it bumps the generation again.
  *generation = generation_.load(std::memory_order_acquire);
  return snapshot_;
}

bool Bus::Access(const BusSnapshot& snapshot, uint64_t addr, absl::Span<uint8_t> read,
                 absl::Span<const uint8_t> write, bool is_write) const {
  const uint64_t len = is_write ? write.size() : read.size();
  // The last range starting at or below `addr`.
  auto it = std::upper_bound(snapshot.entries.begin(), snapshot.entries.end(), addr,
                             [](uint64_t a, const BusSnapshot::Entry& e) { return a < e.base; });
  const BusSnapshot::Entry* entry = nullptr;
  uint64_t offset = 0;
  if (it != snapshot.entries.begin()) {
    --it;
    offset = addr - it->base;
    if (offset < it->size && len <= it->size - offset) entry = &*it;
  }
  if (entry == nullptr) {
    (is_write ? unclaimed_writes_ : unclaimed_reads_).fetch_add(1, std::memory_order_relaxed);
    if (!is_write) std::memset(read.data(), 0xff, read.size());
    return false;
  }
  if (is_write) {
    entry->counters->writes.fetch_add(1, std::memory_order_relaxed);
    entry->device->Write(offset, write);
  } else {
    entry->counters->reads.fetch_add(1, std::memory_order_relaxed);
    entry->device->Read(offset, read);
  }
  return true;
}

absl::Status Bus::Register(uint64_t base, uint64_t size,
                           std::shared_ptr<BusDevice> device,
                           std::string label) {
  if (size == 0 || base + size < base) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s bus: bad range for %s: base 0x%x size 0x%x", name_, label, base,
        size));
  }
  if (device == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s bus: no device for %s", name_, label));
  }
  absl::MutexLock lock(&mu_);
  // The first range starting after `base` must start at or after our end, and
  // the one before must end at or before our start.
  auto next = ranges_.upper_bound(base);
  if (next != ranges_.end() && next->first < base + size) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s bus: %s [0x%x, 0x%x) overlaps %s at 0x%x", name_, label, base,
        base + size, next->second.label, next->first));
  }
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > base) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "%s bus: %s [0x%x, 0x%x) overlaps %s at 0x%x", name_, label, base,
          base + size, prev->second.label, prev->first));
    }
  }
  std::shared_ptr<BusCounters>& counters = labels_[label];
  if (counters == nullptr) counters = std::make_shared<BusCounters>();
  ranges_.emplace(base, Range{size, std::move(device), std::move(label), counters});
  Publish();
  return absl::OkStatus();
}

absl::Status Bus::Unregister(uint64_t base) {
  absl::MutexLock lock(&mu_);
  auto it = ranges_.find(base);
  if (it == ranges_.end()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s bus: no range starts at 0x%x", name_, base));
  }
  ranges_.erase(it);
  Publish();
  return absl::OkStatus();
}

bool Bus::Read(uint64_t addr, absl::Span<uint8_t> data) const {
  uint64_t generation = 0;
  std::shared_ptr<const BusSnapshot> snapshot = Snapshot(&generation);
  return Access(*snapshot, addr, data, {}, false);
}

bool Bus::Write(uint64_t addr, absl::Span<const uint8_t> data) const {
  uint64_t generation = 0;
  std::shared_ptr<const BusSnapshot> snapshot = Snapshot(&generation);
  return Access(*snapshot, addr, {}, data, true);
}

const BusSnapshot& Bus::Dispatcher::Current() {
  if (bus_.generation_.load(std::memory_order_acquire) != generation_) {
    snapshot_ = bus_.Snapshot(&generation_);
  }
  return *snapshot_;
}

bool Bus::Dispatcher::Read(uint64_t addr, absl::Span<uint8_t> data) {
  return bus_.Access(Current(), addr, data, {}, false);
}

bool Bus::Dispatcher::Write(uint64_t addr, absl::Span<const uint8_t> data) {
  return bus_.Access(Current(), addr, {}, data, true);
}

Bus::Counts Bus::counts() const {
  absl::ReaderMutexLock lock(&mu_);
  Counts counts;
  for (const auto& [label, c] : labels_) {
    counts.labels.push_back({label, c->reads.load(std::memory_order_relaxed),
                             c->writes.load(std::memory_order_relaxed)});
  }
  counts.unclaimed_reads = unclaimed_reads_.load(std::memory_order_relaxed);
  counts.unclaimed_writes = unclaimed_writes_.load(std::memory_order_relaxed);
  return counts;
}

size_t Bus::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return ranges_.size();
}

}  // namespace microvm
