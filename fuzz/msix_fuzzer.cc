// SPDX-License-Identifier: Apache-2.0
// Fuzzes the MSI-X capability and table (pci/msix.h): table and PBA reads
// and writes at any offset and size, Message Control writes through config
// space (Enable, Function Mask), and device-side Fire(). The action stream
// is replayed into a model of which vectors deliver, which must agree with
// the table's own state after every step.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "fuzz/fuzz_input.h"
#include "pci/config_space.h"
#include "pci/msi_message.h"
#include "pci/msix.h"

namespace microvm::pci {
namespace {

using Type = MsiAction::Type;

class Model {
 public:
  explicit Model(MsixTable& table)
      : table_(table), delivering_(table.size(), false) {}

  // Applies `actions` in order, checking each is legal in the state the
  // previous ones left.
  void Apply(const MsiActions& actions) {
    for (const MsiAction& a : actions) {
      switch (a.type) {
        case Type::kEnable:
          FUZZ_CHECK(a.vector == table_.size());
          break;
        case Type::kDisable:
          for (bool d : delivering_) FUZZ_CHECK(!d);
          break;
        case Type::kUnmask:
          FUZZ_CHECK(a.vector < table_.size());
          FUZZ_CHECK(!delivering_[a.vector]);
          FUZZ_CHECK(a.message == table_.message(a.vector));
          delivering_[a.vector] = true;
          FUZZ_CHECK(!table_.pending(a.vector));
          break;
        case Type::kMask:
          FUZZ_CHECK(a.vector < table_.size());
          FUZZ_CHECK(delivering_[a.vector]);
          delivering_[a.vector] = false;
          break;
        case Type::kRoute:
          FUZZ_CHECK(a.vector < table_.size());
          FUZZ_CHECK(delivering_[a.vector]);
          break;
        case Type::kFunctionMask:
        case Type::kFunctionUnmask:
          break;
        default:
          FUZZ_CHECK(false && "unknown action type");
      }
    }
    Check();
  }

  // The model and the table agree on every vector.
  void Check() const {
    for (uint32_t v = 0; v < table_.size(); ++v) {
      uint8_t control[4];
      table_.ReadTable(v * MsixTable::kEntrySize + 12, control);
      const bool masked = control[0] & MsixTable::kVectorMasked;
      const bool delivers =
          table_.enabled() && !table_.function_masked() && !masked;
      FUZZ_CHECK(table_.Delivers(v) == delivers);
      FUZZ_CHECK(table_.InUse(v) == (table_.enabled() && !masked));
      FUZZ_CHECK(delivering_[v] == delivers);
      // The message is what the table reads back.
      uint8_t entry[8];
      table_.ReadTable(v * MsixTable::kEntrySize, entry);
      uint64_t address;
      std::memcpy(&address, entry, 8);
      FUZZ_CHECK(table_.message(v).address == address);
      // The PBA bit is the pending state.
      uint8_t qword[8];
      table_.ReadPba(v / 64 * 8, qword);
      FUZZ_CHECK(((qword[v % 64 / 8] >> (v % 8)) & 1) == table_.pending(v));
    }
  }

 private:
  MsixTable& table_;
  std::vector<bool> delivering_;
};

// Offsets cluster inside the structure, with some far outside it.
uint64_t Offset(fuzz::FuzzInput& in, uint64_t bytes) {
  switch (in.U8() & 3) {
    case 0:
      return in.U64();
    case 1:
      return bytes + in.U8();  // just past the end
    default:
      return in.U32() % (bytes + 8);
  }
}

// Any size 0-9 sometimes, mostly the architectural 1/2/4/8.
size_t Size(fuzz::FuzzInput& in) {
  const uint8_t b = in.U8();
  return (b & 0x80) ? b % 10 : size_t{1} << (b & 3);
}

}  // namespace
}  // namespace microvm::pci

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace microvm;
  using namespace microvm::pci;
  fuzz::FuzzInput in(data, size);

  // Table size 1-2048 (0 and larger clamp), biased towards small tables so
  // the per-step check stays cheap.
  uint32_t vectors = in.U16();
  if (!(vectors & 0x8000)) vectors &= 0x7f;
  MsixTable table(vectors & 0xfff);
  FUZZ_CHECK(table.size() >= 1 && table.size() <= MsixTable::kMaxVectors);

  ConfigSpace config(ConfigSpace::kConventionalSize);
  absl::StatusOr<MsixCapability> cap = MsixCapability::Add(
      config, MsixConfig{.table_size = static_cast<uint16_t>(table.size()),
                         .table_bar = 0,
                         .table_offset = 0,
                         .pba_bar = 0,
                         .pba_offset = 0x800});
  FUZZ_CHECK(cap.ok());

  Model model(table);
  model.Check();
  for (int ops = 0; !in.empty() && ops < 2048; ++ops) {
    const uint8_t op = in.U8() % 6;
    // Exactly-sized heap buffers, so an overrun is an ASan report.
    std::vector<uint8_t> buf(Size(in));
    switch (op) {
      case 0: {  // table read
        std::fill(buf.begin(), buf.end(), 0xa5);
        table.ReadTable(Offset(in, table.table_bytes()), absl::MakeSpan(buf));
        if (buf.size() != 4 && buf.size() != 8) {
          for (uint8_t b : buf) FUZZ_CHECK(b == 0);
        }
        break;
      }
      case 1: {  // table write
        const uint64_t offset = Offset(in, table.table_bytes());
        for (uint8_t& b : buf) b = in.U8();
        model.Apply(table.WriteTable(offset, buf));
        break;
      }
      case 2: {  // PBA read
        std::fill(buf.begin(), buf.end(), 0xa5);
        table.ReadPba(Offset(in, table.pba_bytes()), absl::MakeSpan(buf));
        if (buf.size() != 4 && buf.size() != 8) {
          for (uint8_t b : buf) FUZZ_CHECK(b == 0);
        }
        break;
      }
      case 3: {  // config space write, anywhere near the capability
        const uint32_t offset = cap->offset() + in.U8() % 16 - 2;
        for (uint8_t& b : buf) b = in.U8();
        config.Write(offset, buf);
        // Table Size and the BIR/offsets are read-only.
        FUZZ_CHECK((config.Get16(cap->offset() + 2) & 0x7ff) ==
                   table.size() - 1);
        FUZZ_CHECK(config.Get32(cap->offset() + 8) == 0x800);
        if (cap->Overlaps(offset, buf.size())) {
          model.Apply(cap->Update(config, table));
        }
        break;
      }
      case 4: {  // Message Control straight to the table
        const uint8_t bits = in.U8();
        model.Apply(table.SetControl(bits & 1, bits & 2));
        break;
      }
      default: {  // the device signals a vector
        uint32_t v = in.U16();
        if (!(v & 0x8000)) v %= table.size() + 1;
        const bool delivers = table.Delivers(v);
        const bool enabled = table.enabled();
        const bool fired = table.Fire(v);
        FUZZ_CHECK(fired == delivers);
        if (v < table.size() && enabled && !fired) {
          FUZZ_CHECK(table.pending(v));
        }
        model.Check();
        break;
      }
    }
  }
  return 0;
}
