// SPDX-License-Identifier: Apache-2.0
#include "base/bus.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace microvm {

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
  ranges_.try_emplace(base, size, std::move(device), std::move(label));
  return absl::OkStatus();
}

absl::Status Bus::Unregister(uint64_t base) {
  absl::MutexLock lock(&mu_);
  auto it = ranges_.find(base);
  if (it == ranges_.end()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s bus: no range starts at 0x%x", name_, base));
  }
  LabelCounts& kept = removed_[it->second.label];
  kept.label = it->second.label;
  kept.reads += it->second.reads.load(std::memory_order_relaxed);
  kept.writes += it->second.writes.load(std::memory_order_relaxed);
  ranges_.erase(it);
  return absl::OkStatus();
}

std::shared_ptr<BusDevice> Bus::Find(uint64_t addr, uint64_t len, bool write,
                                     uint64_t* offset) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = ranges_.upper_bound(addr);
  const Range* range = nullptr;
  if (it != ranges_.begin()) {
    --it;
    const uint64_t off = addr - it->first;
    if (off < it->second.size && len <= it->second.size - off) {
      range = &it->second;
      *offset = off;
    }
  }
  if (range == nullptr) {
    (write ? unclaimed_writes_ : unclaimed_reads_)
        .fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  (write ? range->writes : range->reads)
      .fetch_add(1, std::memory_order_relaxed);
  return range->device;
}

bool Bus::Read(uint64_t addr, absl::Span<uint8_t> data) const {
  uint64_t offset = 0;
  std::shared_ptr<BusDevice> device = Find(addr, data.size(), false, &offset);
  if (device == nullptr) {
    std::memset(data.data(), 0xff, data.size());
    return false;
  }
  device->Read(offset, data);
  return true;
}

bool Bus::Write(uint64_t addr, absl::Span<const uint8_t> data) const {
  uint64_t offset = 0;
  std::shared_ptr<BusDevice> device = Find(addr, data.size(), true, &offset);
  if (device == nullptr) return false;
  device->Write(offset, data);
  return true;
}

Bus::Counts Bus::counts() const {
  absl::ReaderMutexLock lock(&mu_);
  std::map<std::string, LabelCounts> by_label = removed_;
  for (const auto& [base, range] : ranges_) {
    LabelCounts& c = by_label[range.label];
    c.label = range.label;
    c.reads += range.reads.load(std::memory_order_relaxed);
    c.writes += range.writes.load(std::memory_order_relaxed);
  }
  Counts counts;
  for (auto& [label, c] : by_label) counts.labels.push_back(std::move(c));
  counts.unclaimed_reads = unclaimed_reads_.load(std::memory_order_relaxed);
  counts.unclaimed_writes = unclaimed_writes_.load(std::memory_order_relaxed);
  return counts;
}

size_t Bus::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return ranges_.size();
}

}  // namespace microvm
