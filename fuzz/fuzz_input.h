// SPDX-License-Identifier: Apache-2.0
// Reading a fuzzer's input as a stream of small integers. Running out of
// bytes yields zeros, so every input is a complete (if short) program.
#ifndef MICROVM_FUZZ_FUZZ_INPUT_H_
#define MICROVM_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace microvm::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }

  // `bytes` (at most 8) little-endian bytes.
  uint64_t Take(size_t bytes) {
    uint64_t value = 0;
    for (size_t i = 0; i < bytes && pos_ < size_; ++i) {
      value |= uint64_t{data_[pos_++]} << (8 * i);
    }
    return value;
  }
  uint8_t U8() { return static_cast<uint8_t>(Take(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Take(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Take(4)); }
  uint64_t U64() { return Take(8); }

  // One of the sizes a vCPU access can have: 1, 2, 4 or 8 bytes.
  size_t AccessSize() { return size_t{1} << (U8() & 3); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A broken invariant: report it and abort, so libFuzzer saves the input and
// the replay test fails.
[[noreturn]] inline void Fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", file, line, what);
  std::abort();
}

}  // namespace microvm::fuzz

#define FUZZ_CHECK(cond) \
  ((cond) ? (void)0 : ::microvm::fuzz::Fail(__FILE__, __LINE__, #cond))

#endif  // MICROVM_FUZZ_FUZZ_INPUT_H_
