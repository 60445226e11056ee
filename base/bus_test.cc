// SPDX-License-Identifier: Apache-2.0
#include "base/bus.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace microvm {
namespace {

// Records every access; reads return the low byte of the offset.
class Recorder : public BusDevice {
 public:
  struct Access {
    bool write;
    uint64_t offset;
    size_t size;
  };
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    log.push_back({false, offset, data.size()});
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    log.push_back({true, offset, data.size()});
  }
  std::vector<Access> log;
};

TEST(BusTest, RejectsOverlapsAndBadRanges) {
  Bus bus("test");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Register(0x100, 0x10, dev, "a").ok());
  EXPECT_EQ(bus.Register(0x100, 0x10, dev, "same").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0x10f, 1, dev, "last byte").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0xf8, 0x9, dev, "first byte").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0x0, 0x1000, dev, "cover").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0x104, 2, dev, "inside").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(bus.Register(0x200, 0, dev, "empty").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bus.Register(~0ull, 2, dev, "wraps").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bus.Register(0x200, 1, nullptr, "null").code(),
            absl::StatusCode::kInvalidArgument);
  // Adjacent on both sides is fine.
  EXPECT_TRUE(bus.Register(0xf0, 0x10, dev, "below").ok());
  EXPECT_TRUE(bus.Register(0x110, 0x10, dev, "above").ok());
  EXPECT_EQ(bus.size(), 3u);
}

TEST(BusTest, DispatchesWithOffsetsAndMissesReadAllOnes) {
  Bus bus("test");
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Register(0x1000, 0x100, a, "a").ok());
  ASSERT_TRUE(bus.Register(0x2000, 0x8, b, "b").ok());

  uint8_t buf[8];
  EXPECT_TRUE(bus.Read(0x1042, absl::MakeSpan(buf, 2)));
  EXPECT_EQ(buf[0], 0x42);
  EXPECT_TRUE(bus.Write(0x2004, absl::MakeConstSpan(buf, 4)));
  ASSERT_EQ(b->log.size(), 1u);
  EXPECT_TRUE(b->log[0].write);
  EXPECT_EQ(b->log[0].offset, 4u);
  EXPECT_EQ(b->log[0].size, 4u);

  // Straddling the end of a range is a miss, not a partial access.
  EXPECT_FALSE(bus.Read(0x2006, absl::MakeSpan(buf, 4)));
  EXPECT_EQ(buf[0], 0xff);
  EXPECT_EQ(buf[3], 0xff);
  EXPECT_FALSE(bus.Write(0x3000, absl::MakeConstSpan(buf, 1)));
  EXPECT_FALSE(bus.Read(0xfff, absl::MakeSpan(buf, 1)));
  EXPECT_EQ(b->log.size(), 1u);
}

TEST(BusTest, UnregisterRemovesExactlyOneRange) {
  Bus bus("test");
  auto a = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Register(0x10, 0x10, a, "a").ok());
  EXPECT_EQ(bus.Unregister(0x11).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(bus.Unregister(0x10).ok());
  uint8_t byte;
  EXPECT_FALSE(bus.Read(0x10, absl::MakeSpan(&byte, 1)));
  EXPECT_TRUE(bus.Register(0x10, 0x10, a, "again").ok());
}

TEST(BusTest, ManyRangesLookUpCorrectly) {
  Bus bus("test");
  std::vector<std::shared_ptr<Recorder>> devs;
  for (int i = 0; i < 1000; ++i) {
    devs.push_back(std::make_shared<Recorder>());
    ASSERT_TRUE(bus.Register(i * 0x100, 0x80, devs.back(), "d").ok());
  }
  uint8_t byte;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(bus.Read(i * 0x100 + 0x7f, absl::MakeSpan(&byte, 1)));
    EXPECT_FALSE(bus.Read(i * 0x100 + 0x80, absl::MakeSpan(&byte, 1)));
    ASSERT_EQ(devs[i]->log.size(), 1u);
    EXPECT_EQ(devs[i]->log[0].offset, 0x7fu);
  }
}

TEST(BusTest, CountsAccessesPerLabelAcrossMoves) {
  Bus bus("test");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Register(0x100, 0x10, dev, "a").ok());
  ASSERT_TRUE(bus.Register(0x200, 0x10, dev, "b").ok());
  uint8_t byte = 0;
  EXPECT_TRUE(bus.Read(0x100, absl::MakeSpan(&byte, 1)));
  EXPECT_TRUE(bus.Write(0x10f, absl::MakeConstSpan(&byte, 1)));
  EXPECT_TRUE(bus.Write(0x104, absl::MakeConstSpan(&byte, 1)));
  EXPECT_FALSE(bus.Read(0x300, absl::MakeSpan(&byte, 1)));
  EXPECT_FALSE(bus.Write(0x10f, absl::MakeConstSpan(&byte, 2)));  // straddles
  // "a" moves (a BAR reprogrammed): its counts stay with its label.
  ASSERT_TRUE(bus.Unregister(0x100).ok());
  ASSERT_TRUE(bus.Register(0x400, 0x10, dev, "a").ok());
  EXPECT_TRUE(bus.Read(0x400, absl::MakeSpan(&byte, 1)));
  EXPECT_TRUE(bus.Read(0x20f, absl::MakeSpan(&byte, 1)));

  Bus::Counts c = bus.counts();
  ASSERT_EQ(c.labels.size(), 2u);
  EXPECT_EQ(c.labels[0].label, "a");
  EXPECT_EQ(c.labels[0].reads, 2u);
  EXPECT_EQ(c.labels[0].writes, 2u);
  EXPECT_EQ(c.labels[1].label, "b");
  EXPECT_EQ(c.labels[1].reads, 1u);
  EXPECT_EQ(c.labels[1].writes, 0u);
  EXPECT_EQ(c.unclaimed_reads, 1u);
  EXPECT_EQ(c.unclaimed_writes, 1u);
}

// A Dispatcher (a vCPU's view) sees every change made before its access:
// a range added, removed or moved, and counts the way the bus does.
TEST(BusTest, DispatcherFollowsChanges) {
  Bus bus("test");
  Bus::Dispatcher dispatch(bus);
  auto dev = std::make_shared<Recorder>();
  uint8_t byte = 0;
  EXPECT_FALSE(dispatch.Read(0x100, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 0xff);
  ASSERT_TRUE(bus.Register(0x100, 0x10, dev, "a").ok());
  EXPECT_TRUE(dispatch.Read(0x104, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 4);
  EXPECT_TRUE(dispatch.Write(0x10f, absl::MakeConstSpan(&byte, 1)));
  EXPECT_FALSE(dispatch.Write(0x10f, absl::MakeConstSpan(&byte, 2)));  // straddles
  ASSERT_TRUE(bus.Unregister(0x100).ok());
  EXPECT_FALSE(dispatch.Write(0x104, absl::MakeConstSpan(&byte, 1)));
  ASSERT_TRUE(bus.Register(0x800, 0x10, dev, "a").ok());
  EXPECT_TRUE(dispatch.Read(0x808, absl::MakeSpan(&byte, 1)));
  EXPECT_EQ(byte, 8);
  ASSERT_EQ(dev->log.size(), 3u);
  Bus::Counts c = bus.counts();
  ASSERT_EQ(c.labels.size(), 1u);
  EXPECT_EQ(c.labels[0].reads, 2u);
  EXPECT_EQ(c.labels[0].writes, 1u);
  EXPECT_EQ(c.unclaimed_reads, 1u);
  EXPECT_EQ(c.unclaimed_writes, 2u);
}

// Counts its accesses from any thread; its destructor records that it ran.
class Counter : public BusDevice {
 public:
  explicit Counter(std::atomic<int>* destroyed) : destroyed_(destroyed) {}
  ~Counter() override { destroyed_->fetch_add(1); }
  void Read(uint64_t, absl::Span<uint8_t> data) override {
    accesses.fetch_add(1);
    std::fill(data.begin(), data.end(), 0);
  }
  void Write(uint64_t, absl::Span<const uint8_t>) override { accesses.fetch_add(1); }
  std::atomic<uint64_t> accesses{0};

 private:
  std::atomic<int>* destroyed_;
};

// A vCPU dispatching while another thread moves its range back and forth
// (a guest reprogramming a BAR from another vCPU): every access lands on the
// device or reads as nothing, the device outlives the last snapshot that
// names it and no more (run under the sanitizers in CI).
TEST(BusTest, DispatcherIsSafeWhileRangesMove) {
  std::atomic<int> destroyed{0};
  Bus bus("test");
  auto dev = std::make_shared<Counter>(&destroyed);
  ASSERT_TRUE(bus.Register(0x1000, 0x10, dev, "bar").ok());
  std::atomic<bool> done{false};
  uint64_t hits = 0, misses = 0;
  std::thread vcpu([&] {
    Bus::Dispatcher dispatch(bus);
    uint8_t byte = 0;
    while (!done.load()) {
      (dispatch.Write(0x1004, absl::MakeConstSpan(&byte, 1)) ? hits : misses)++;
    }
  });
  bool moved = true;
  for (int i = 0; i < 2000 && moved; ++i) {
    moved = bus.Unregister(0x1000).ok() && bus.Register(0x2000, 0x10, dev, "bar").ok() &&
            bus.Unregister(0x2000).ok() && bus.Register(0x1000, 0x10, dev, "bar").ok();
  }
  done = true;
  vcpu.join();
  ASSERT_TRUE(moved);
  EXPECT_EQ(hits, dev->accesses.load());
  Bus::Counts c = bus.counts();
  ASSERT_EQ(c.labels.size(), 1u);
  EXPECT_EQ(c.labels[0].writes, hits);
  EXPECT_EQ(c.unclaimed_writes, misses);
  // Removed, with the vCPU's view gone and our reference dropped, nothing
  // keeps it.
  ASSERT_TRUE(bus.Unregister(0x1000).ok());
  EXPECT_EQ(destroyed.load(), 0);
  dev.reset();
  EXPECT_EQ(destroyed.load(), 1) << "a snapshot still names the device";
}

}  // namespace
}  // namespace microvm
