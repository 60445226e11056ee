// SPDX-License-Identifier: Apache-2.0
// VMM start-up: from the start to the guest's first instruction, with
// bench/guests/startup.S, whose first instruction writes port 0x80 and whose
// next ones print "S" on COM1 and power off.
//
//   Startup/binary       the microvm binary (--microvm): wall time from
//                        posix_spawn() to reading the guest's "S" from its
//                        stdout pipe (process start, dynamic loading, flag
//                        parsing, VM set-up, the first two guest
//                        instructions, the serial device's write(2))
//   Startup/spawn_floor  the same binary rejecting its flags (--cpus 0):
//                        posix_spawn() to exit, the part of the above no VMM
//                        work can remove (the baseline)
//   Startup/in_process   the in-process API: Vm::Create() to the exit of the
//                        first instruction, timestamped by a BusDevice on
//                        port 0x80 (no process start)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "bench/benchmarks.h"
#include "bench/samples.h"
#include "bench/spawn.h"
#include "vmm/vm.h"

namespace microvm::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kTimeoutMs = 120000;

double UsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

absl::StatusOr<double> BinaryToFirstOutput(const Options& o) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  Clock::time_point t0 = Clock::now();
  MVM_ASSIGN_OR_RETURN(
      pid_t pid, Spawn({o.microvm, "--kernel=" + o.guest_dir + "/startup.elf",
                        "--mem=64"},
                       write_end.get(), true));
  write_end.reset();
  int c = ReadByte(read_end.get(), kTimeoutMs);
  bool got = c >= 0;
  Clock::time_point t1 = Clock::now();
  if (!got) kill(pid, SIGKILL);
  MVM_ASSIGN_OR_RETURN(int code, WaitExit(pid));
  if (!got || c != 'S' || code != 0) {
    return absl::InternalError(absl::StrCat(
        o.microvm, " with startup.elf: first output byte ",
        got ? absl::StrCat("0x", absl::Hex(c)) : "none", ", exit status ",
        code, " (want 'S' and 0)"));
  }
  return UsSince(t0, t1);
}

absl::StatusOr<double> SpawnFloor(const Options& o) {
  Clock::time_point t0 = Clock::now();
  MVM_ASSIGN_OR_RETURN(pid_t pid,
                       Spawn({o.microvm, "--kernel=none", "--cpus=0"}, -1,
                             false));
  MVM_ASSIGN_OR_RETURN(int code, WaitExit(pid));
  Clock::time_point t1 = Clock::now();
  if (code != 1) {
    return absl::InternalError(absl::StrCat(
        o.microvm, " --cpus=0 exited with ", code, ", not 1 (bad flags)"));
  }
  return UsSince(t0, t1);
}

// Timestamps the first write it sees.
class FirstWrite final : public BusDevice {
 public:
  void Read(uint64_t, absl::Span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
  }
  void Write(uint64_t, absl::Span<const uint8_t>) override {
    if (!seen_) seen_ = Clock::now();
  }
  std::optional<Clock::time_point> seen() const { return seen_; }

 private:
  std::optional<Clock::time_point> seen_;  // written by the one vCPU only
};

absl::StatusOr<double> InProcessToFirstInstruction(const Options& o) {
  VmConfig config;
  config.kernel_path = o.guest_dir + "/startup.elf";
  config.mem_bytes = 64ull << 20;
  config.console_in_fd = -1;
  UniqueFd null(open("/dev/null", O_WRONLY | O_CLOEXEC));
  config.console_out_fd = null.get();
  auto first = std::make_shared<FirstWrite>();
  Clock::time_point t0 = Clock::now();
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<Vm> vm, Vm::Create(config));
  MVM_RETURN_IF_ERROR(vm->pio_bus().Register(0x80, 1, first, "debug port"));
  // Run() has no deadline of its own: a watchdog stops a guest that hangs.
  absl::Notification ran;
  std::thread watchdog([&] {
    if (!ran.WaitForNotificationWithTimeout(absl::Milliseconds(kTimeoutMs))) {
      vm->Stop();
    }
  });
  absl::StatusOr<VmExit> end = vm->Run();
  ran.Notify();
  watchdog.join();
  MVM_RETURN_IF_ERROR(end.status());
  if (*end != VmExit::kPowerOff || !first->seen()) {
    return absl::InternalError(
        "startup.elf did not write port 0x80 and power off");
  }
  return UsSince(t0, *first->seen());
}

absl::StatusOr<OpSamples> Repeat(uint32_t runs,
                                 absl::StatusOr<double> (*once)(const Options&),
                                 const Options& o) {
  OpSamples out;
  for (uint32_t i = 0; i < runs; ++i) {
    MVM_ASSIGN_OR_RETURN(double us, once(o));
    out.us.push_back(us);
  }
  out.result.samples = runs;
  return out;
}

}  // namespace

void RegisterStartupBenchmarks(const Options& o) {
  const uint32_t n = o.startup_runs;
  RegisterLatency("Startup/spawn_floor", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, SpawnFloor, o), "");
  });
  RegisterLatency("Startup/binary", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, BinaryToFirstOutput, o), "Startup/spawn_floor");
  });
  RegisterLatency("Startup/in_process", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, InProcessToFirstInstruction, o), "");
  });
}

}  // namespace microvm::bench
