// SPDX-License-Identifier: Apache-2.0
// Fuzzes base/bus.h against a model: registering ranges (overlapping and
// wrapping ones must be rejected), unregistering them, and dispatching
// accesses of 1-8 bytes at any address. Every result is compared with what
// a plain list of ranges says.
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "fuzz/fuzz_input.h"

namespace microvm {
namespace {

// Records the last access; reads return its own id in every byte.
class RecordingDevice final : public BusDevice {
 public:
  explicit RecordingDevice(uint8_t id) : id(id) {}
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    Record(offset, data.size());
    std::memset(data.data(), id, data.size());
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    Record(offset, data.size());
  }
  const uint8_t id;
  uint64_t last_offset = 0;
  size_t last_size = 0;
  int accesses = 0;

 private:
  void Record(uint64_t offset, size_t size) {
    last_offset = offset;
    last_size = size;
    ++accesses;
  }
};

struct ModelRange {
  uint64_t size;
  std::shared_ptr<RecordingDevice> device;
};

// The reference: a linear scan, no cleverness.
bool Overlaps(const std::map<uint64_t, ModelRange>& model, uint64_t base,
              uint64_t size) {
  for (const auto& [b, r] : model) {
    if (base < b + r.size && b < base + size) return true;
  }
  return false;
}

const std::map<uint64_t, ModelRange>::value_type* Covering(
    const std::map<uint64_t, ModelRange>& model, uint64_t addr, size_t len) {
  for (const auto& entry : model) {
    const auto& [b, r] = entry;
    if (addr >= b && addr - b < r.size && len <= r.size - (addr - b)) {
      return &entry;
    }
  }
  return nullptr;
}

// Addresses cluster near a few bases so ranges collide often, with the
// occasional far one (top of the address space, wrap-around).
uint64_t Address(fuzz::FuzzInput& in) {
  switch (in.U8() & 3) {
    case 0:
      return in.U8();
    case 1:
      return 0x1000 + in.U16();
    case 2:
      return ~uint64_t{0} - in.U16();
    default:
      return in.U64();
  }
}

uint64_t Size(fuzz::FuzzInput& in) {
  switch (in.U8() & 3) {
    case 0:
      return in.U8() & 0xf;
    case 1:
      return in.U16();
    case 2:
      return uint64_t{1} << (in.U8() & 63);
    default:
      return in.U64();
  }
}

}  // namespace
}  // namespace microvm

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace microvm;
  fuzz::FuzzInput in(data, size);
  Bus bus("fuzz");
  std::map<uint64_t, ModelRange> model;
  uint8_t next_id = 1;

  for (int ops = 0; !in.empty() && ops < 4096; ++ops) {
    switch (in.U8() % 5) {
      case 0: {  // Register
        const uint64_t base = Address(in);
        const uint64_t len = Size(in);
        auto device = std::make_shared<RecordingDevice>(next_id++);
        absl::Status s = bus.Register(base, len, device, "dev");
        if (len == 0 || base + len < base) {
          FUZZ_CHECK(absl::IsInvalidArgument(s));
        } else if (Overlaps(model, base, len)) {
          FUZZ_CHECK(absl::IsAlreadyExists(s));
        } else {
          FUZZ_CHECK(s.ok());
          model.emplace(base, ModelRange{len, device});
        }
        break;
      }
      case 1: {  // Unregister: mostly a registered base
        uint64_t base = Address(in);
        if (!model.empty() && (in.U8() & 1)) {
          base = std::next(model.begin(), in.U8() % model.size())->first;
        }
        absl::Status s = bus.Unregister(base);
        FUZZ_CHECK(s.ok() == (model.erase(base) == 1));
        FUZZ_CHECK(s.ok() || absl::IsNotFound(s));
        break;
      }
      case 2:
      case 3: {  // Read / Write, often inside a registered range
        const bool write = in.U8() & 1;
        uint64_t addr = Address(in);
        if (!model.empty() && (in.U8() & 1)) {
          const auto& [b, r] = *std::next(model.begin(), in.U8() % model.size());
          addr = b + in.U64() % r.size;
        }
        const size_t len = 1 + in.U8() % 8;
        uint8_t buf[16];
        std::memset(buf, 0xa5, sizeof(buf));
        const auto* want = Covering(model, addr, len);
        const int before = want ? want->second.device->accesses : 0;
        const bool hit = write ? bus.Write(addr, absl::MakeConstSpan(buf, len))
                               : bus.Read(addr, absl::MakeSpan(buf, len));
        FUZZ_CHECK(hit == (want != nullptr));
        if (want != nullptr) {
          const RecordingDevice& d = *want->second.device;
          FUZZ_CHECK(d.accesses == before + 1);
          FUZZ_CHECK(d.last_offset == addr - want->first);
          FUZZ_CHECK(d.last_size == len);
        }
        if (!write) {
          const uint8_t expect = want ? want->second.device->id : 0xff;
          for (size_t i = 0; i < len; ++i) FUZZ_CHECK(buf[i] == expect);
        }
        // Nothing is touched beyond the access.
        for (size_t i = len; i < sizeof(buf); ++i) FUZZ_CHECK(buf[i] == 0xa5);
        break;
      }
      default:
        FUZZ_CHECK(bus.size() == model.size());
        break;
    }
  }
  FUZZ_CHECK(bus.size() == model.size());
  return 0;
}
