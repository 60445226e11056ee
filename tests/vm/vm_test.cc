// SPDX-License-Identifier: Apache-2.0
// Whole-VM tests through the in-process API (vmm/vm.h): each test boots one
// of the tiny guests in tests/guests, captures its serial console through a
// pipe, and checks both what the guest reports ("PASS <name>") and what the
// VMM saw (bus accesses, how Run() ended).
#include "tests/vm/run_bounded.h"
#include "vmm/vm.h"

#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// A guest that has not finished by then is stopped and the test fails.
constexpr int kRunTimeoutSeconds = 60;

std::string GuestPath(const std::string& name) {
  return "tests/guests/" + name + ".elf";
}

// Reads a pipe to EOF on its own thread, so a chatty guest never blocks the
// VMM on a full pipe.
class PipeReader {
 public:
  PipeReader() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return;
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    thread_ = std::thread([this] {
      char buf[4096];
      for (;;) {
        ssize_t n = read(read_fd_, buf, sizeof(buf));
        if (n <= 0) break;
        absl::MutexLock lock(&mu_);
        text_.append(buf, static_cast<size_t>(n));
      }
    });
  }
  ~PipeReader() { Finish(); }

  int write_fd() const { return write_fd_; }

  // Closes the write end, waits for EOF and returns everything read, with
  // the guest's CR LF line ends turned into LF.
  std::string Finish() {
    if (write_fd_ >= 0) {
      close(write_fd_);
      write_fd_ = -1;
    }
    if (thread_.joinable()) thread_.join();
    if (read_fd_ >= 0) {
      close(read_fd_);
      read_fd_ = -1;
    }
    absl::MutexLock lock(&mu_);
    return absl::StrReplaceAll(text_, {{"\r", ""}});
  }

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::thread thread_;
  absl::Mutex mu_;
  std::string text_;
};

struct GuestRun {
  absl::StatusOr<VmExit> exit = absl::UnknownError("not run");
  std::string output;  // serial console
  bool timed_out = false;
  VmStats stats;  // after the run
};

std::string ExitName(const absl::StatusOr<VmExit>& exit) {
  if (!exit.ok()) return "error: " + exit.status().ToString();
  switch (*exit) {
    case VmExit::kPowerOff: return "kPowerOff";
    case VmExit::kReset: return "kReset";
    case VmExit::kStopped: return "kStopped";
    case VmExit::kDeviceRequested: return "kDeviceRequested";
    case VmExit::kShutdownTimeout: return "kShutdownTimeout";
  }
  return "unknown";
}

// Boots `guest`, lets `setup` register devices, feeds `input` to the serial
// port and runs until the guest ends (or kRunTimeoutSeconds pass).
GuestRun RunGuest(const std::string& guest, int cpus = 1,
                  const std::string& input = "",
                  const std::function<void(Vm&)>& setup = nullptr) {
  GuestRun result;
  PipeReader out;
  int in_fds[2] = {-1, -1};
  if (!input.empty()) {
    EXPECT_EQ(pipe2(in_fds, O_CLOEXEC), 0);
    EXPECT_EQ(write(in_fds[1], input.data(), input.size()),
              static_cast<ssize_t>(input.size()));
  }
  VmConfig config;
  config.kernel_path = GuestPath(guest);
  config.mem_bytes = 64ull << 20;
  config.cpus = cpus;
  config.console_out_fd = out.write_fd();
  config.console_in_fd = in_fds[0];
  absl::StatusOr<std::unique_ptr<Vm>> vm = Vm::Create(config);
  if (!vm.ok()) {
    result.exit = vm.status();
  } else {
    if (setup) setup(**vm);
    result.exit = testing::RunBounded(
        **vm, std::chrono::seconds(kRunTimeoutSeconds), &result.timed_out);
    result.stats = (*vm)->Stats();
    vm->reset();
  }
  for (int fd : in_fds) {
    if (fd >= 0) close(fd);
  }
  result.output = out.Finish();
  return result;
}

// What every guest that ends normally must show: a clean power-off and its
// PASS line, with the whole console in the failure message.
void ExpectPass(const GuestRun& run, const std::string& name) {
  EXPECT_FALSE(run.timed_out) << name << " did not finish within "
                              << kRunTimeoutSeconds << " s";
  ASSERT_TRUE(run.exit.ok()) << run.exit.status() << "\nconsole:\n"
                             << run.output;
  EXPECT_EQ(*run.exit, VmExit::kPowerOff) << "console:\n" << run.output;
  EXPECT_THAT(run.output, HasSubstr("PASS " + name + "\n"));
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL")));
}

TEST(VmTest, HelloPrintsAndPowersOff) {
  GuestRun run = RunGuest("hello");
  ASSERT_TRUE(run.exit.ok()) << run.exit.status();
  EXPECT_EQ(*run.exit, VmExit::kPowerOff);
  EXPECT_EQ(run.output, "Hello from a microvm guest\n");
}

TEST(VmTest, PowerOffReturnsPowerOff) {
  GuestRun run = RunGuest("poweroff");
  ASSERT_TRUE(run.exit.ok()) << run.exit.status() << "\n" << run.output;
  EXPECT_EQ(*run.exit, VmExit::kPowerOff) << ExitName(run.exit);
  EXPECT_THAT(run.output, HasSubstr("poweroff: writing S5 to port 0x3c0"));
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL")));
}

TEST(VmTest, ResetReturnsReset) {
  GuestRun run = RunGuest("reset");
  ASSERT_TRUE(run.exit.ok()) << run.exit.status() << "\n" << run.output;
  EXPECT_EQ(*run.exit, VmExit::kReset) << ExitName(run.exit);
  EXPECT_THAT(run.output, HasSubstr("reset: writing 0xfe to port 0x64"));
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL")));
}

TEST(VmTest, TripleFaultIsAnError) {
  GuestRun run = RunGuest("triple_fault");
  EXPECT_FALSE(run.timed_out);
  ASSERT_FALSE(run.exit.ok()) << "Run() returned " << ExitName(run.exit);
  std::string message = absl::AsciiStrToLower(run.exit.status().message());
  EXPECT_TRUE(absl::StrContains(message, "triple fault") ||
              absl::StrContains(message, "shutdown"))
      << run.exit.status();
  EXPECT_THAT(run.output, HasSubstr("triple_fault: loading an empty IDT"));
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL")));
}

// Answers reads with the pattern pio_mmio.c expects and records every access.
class PatternDevice : public BusDevice {
 public:
  struct Access {
    bool write;
    uint64_t offset;
    std::vector<uint8_t> data;
    bool operator==(const Access& o) const {
      return write == o.write && offset == o.offset && data == o.data;
    }
  };

  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); i++) {
      data[i] = static_cast<uint8_t>(0x10 * data.size() + offset + i);
    }
    absl::MutexLock lock(&mu_);
    accesses_.push_back({false, offset, {data.begin(), data.end()}});
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    absl::MutexLock lock(&mu_);
    accesses_.push_back({true, offset, {data.begin(), data.end()}});
  }

  std::vector<Access> accesses() const {
    absl::MutexLock lock(&mu_);
    return accesses_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Access> accesses_;
};

void PrintTo(const PatternDevice::Access& a, std::ostream* os) {
  *os << (a.write ? "write" : "read") << " @" << a.offset << " [";
  for (uint8_t b : a.data) *os << " " << std::hex << int{b} << std::dec;
  *os << " ]";
}

PatternDevice::Access W(uint64_t offset, std::vector<uint8_t> data) {
  return {true, offset, std::move(data)};
}
// A read of `size` bytes carries the pattern the device returned.
PatternDevice::Access R(uint64_t offset, size_t size) {
  std::vector<uint8_t> data(size);
  for (size_t i = 0; i < size; i++) {
    data[i] = static_cast<uint8_t>(0x10 * size + offset + i);
  }
  return {false, offset, std::move(data)};
}

// Runs pio_mmio with its two pattern devices where it expects them.
GuestRun RunPioMmio(const std::shared_ptr<PatternDevice>& pio,
                    const std::shared_ptr<PatternDevice>& mmio) {
  return RunGuest("pio_mmio", 1, "", [&](Vm& vm) {
    ASSERT_TRUE(vm.pio_bus().Register(0x500, 8, pio, "test-pio").ok());
    ASSERT_TRUE(vm.mmio_bus().Register(0xd0000000, 16, mmio, "test-mmio").ok());
  });
}

TEST(VmTest, PioAndMmioReachDevicesWithEverySize) {
  auto pio = std::make_shared<PatternDevice>();
  auto mmio = std::make_shared<PatternDevice>();
  GuestRun run = RunPioMmio(pio, mmio);
  ExpectPass(run, "pio_mmio");
  // Exactly these accesses, in guest program order; the unregistered and
  // straddling ones must not reach the devices.
  EXPECT_THAT(pio->accesses(),
              ElementsAre(W(0, {0x5a}), W(2, {0x34, 0x12}),
                          W(4, {0xef, 0xbe, 0xad, 0xde}), R(0, 1), R(7, 1),
                          R(2, 2), R(4, 4)));
  EXPECT_THAT(mmio->accesses(),
              ElementsAre(W(0, {0xa5}), W(2, {0xef, 0xbe}),
                          W(4, {0x0d, 0xf0, 0xfe, 0xca}),
                          W(8, {0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01}),
                          R(0, 1), R(15, 1), R(2, 2), R(4, 4), R(8, 8)));
}

// --stats: every access of pio_mmio above is counted against the range it
// reached (or none), and the counts add up to the vCPU's exits.
TEST(VmTest, StatsCountEveryAccessByDeviceAndExitByReason) {
  GuestRun run = RunPioMmio(std::make_shared<PatternDevice>(),
                            std::make_shared<PatternDevice>());
  ExpectPass(run, "pio_mmio");
  const VmStats& s = run.stats;
  std::map<std::string, std::pair<uint64_t, uint64_t>> ranges;  // r, w
  std::map<std::string, uint64_t> per_bus;
  for (const VmStats::Range& r : s.ranges) {
    ranges[r.bus + " " + r.device] = {r.reads, r.writes};
    per_bus[r.bus] += r.reads + r.writes;
  }
  // The devices saw 4 reads and 3 writes (PIO), 5 and 4 (MMIO): so do the
  // counts.
  EXPECT_EQ(ranges["PIO test-pio"], std::make_pair(uint64_t{4}, uint64_t{3}));
  EXPECT_EQ(ranges["MMIO test-mmio"], std::make_pair(uint64_t{5}, uint64_t{4}));
  // The guest also reads outside the devices and across their ends.
  EXPECT_GT(ranges["PIO "].first, 0u);
  EXPECT_GT(ranges["MMIO "].first, 0u);
  ASSERT_EQ(s.vcpus.size(), 1u);
  std::map<std::string, uint64_t> exits;
  for (const VmStats::Count& c : s.vcpus[0].exits) exits[c.name] = c.value;
  EXPECT_EQ(per_bus["PIO"], exits["KVM_EXIT_IO"]);
  EXPECT_EQ(per_bus["MMIO"], exits["KVM_EXIT_MMIO"]);
  EXPECT_GT(s.vcpus[0].cpu, absl::ZeroDuration());
  ASSERT_TRUE(s.first_instruction.has_value());
  EXPECT_LE(*s.first_instruction, s.wall);
  EXPECT_FALSE(s.dma.has_value());
  EXPECT_TRUE(s.passthrough.empty());
}

TEST(VmTest, SerialInterruptsTransmitAndReceive) {
  GuestRun run = RunGuest("serial_irq", 1, "hello from the host\n");
  ExpectPass(run, "serial_irq");
  EXPECT_THAT(run.output,
              HasSubstr("serial_irq: transmitted with THRE interrupts\n"));
  EXPECT_THAT(run.output, HasSubstr("echo: hello from the host\n"));
  EXPECT_THAT(run.output, HasSubstr(" lost=0\n"));
}

TEST(VmTest, PitInterruptsArriveThroughIoapic) {
  GuestRun run = RunGuest("ioapic_pit");
  ExpectPass(run, "ioapic_pit");
  // The MP table's ISA IRQ 0 override points at pin 2.
  EXPECT_THAT(run.output, HasSubstr("ioapic_pit: pin=2 ticks="));
  EXPECT_THAT(run.output, HasSubstr(" lost=0\n"));
}

TEST(VmTest, LapicTimerPeriodicAndOneShot) {
  GuestRun run = RunGuest("lapic_timer");
  ExpectPass(run, "lapic_timer");
  EXPECT_THAT(run.output, HasSubstr("lapic_timer: oneshot ticks=1\n"));
}

class SmpTest : public ::testing::TestWithParam<int> {};

TEST_P(SmpTest, EveryApStartsAndReachesLongMode) {
  const int cpus = GetParam();
  GuestRun run = RunGuest("smp", cpus);
  ExpectPass(run, "smp");
  EXPECT_THAT(run.output,
              HasSubstr(absl::StrCat("smp: cpus=", cpus, " online=", cpus, "\n")));
  for (int id = 1; id < cpus; id++) {
    EXPECT_THAT(run.output,
                HasSubstr(absl::StrCat("smp: AP apic_id=", id, " in long mode")));
  }
}

INSTANTIATE_TEST_SUITE_P(Cpus, SmpTest, ::testing::Values(1, 2, 4));

}  // namespace
}  // namespace microvm
