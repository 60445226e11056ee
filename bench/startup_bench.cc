// SPDX-License-Identifier: Apache-2.0
// VMM start-up: from the start to the guest's first instruction, with
// bench/guests/startup.S, whose first instruction writes port 0x80 and whose
// next ones print "S" on COM1 and power off.
//
//   Startup/binary       the release binary, fully static (--microvm_static,
//                        what users run): wall time from posix_spawn() to
//                        reading the guest's "S" from its stdout pipe
//                        (process start, flag parsing, VM set-up, the first
//                        two guest instructions, the serial device's write(2))
//   Startup/spawn_floor  the same binary rejecting its flags (--cpus 0):
//                        posix_spawn() to exit, the part of the above no VMM
//                        work can remove (the baseline)
//   Startup/binary_dynamic  Startup/binary with the dynamically linked build
//                        (--microvm; Debian's Abseil is ~80 shared
//                        libraries): what dynamic loading costs (baseline:
//                        Startup/binary)
//   Startup/in_process   the in-process API: Vm::Create() to the exit of the
//                        first instruction, timestamped by a BusDevice on
//                        port 0x80 (no process start)
//   Startup/phases       the binary with --boot_timer: where the time to the
//                        first instruction goes, its "set-up:" line's phases
//                        (process start to main, flags, guest memory, ...,
//                        vCPUs), each phase's median over the runs as the
//                        counter phaseNN_<name>_ms (NN: its place); the time
//                        reported is the median of their sum
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

absl::StatusOr<double> BinaryToFirstOutput(const Options& o, const std::string& microvm) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  Clock::time_point t0 = Clock::now();
  MVM_ASSIGN_OR_RETURN(
      pid_t pid, Spawn({microvm, "--kernel=" + o.guest_dir + "/startup.elf",
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
        microvm, " with startup.elf: first output byte ",
        got ? absl::StrCat("0x", absl::Hex(c)) : "none", ", exit status ",
        code, " (want 'S' and 0)"));
  }
  return UsSince(t0, t1);
}

absl::StatusOr<double> SpawnFloor(const Options& o) {
  Clock::time_point t0 = Clock::now();
  MVM_ASSIGN_OR_RETURN(pid_t pid,
                       Spawn({o.microvm_static, "--kernel=none", "--cpus=0"}, -1,
                             false));
  MVM_ASSIGN_OR_RETURN(int code, WaitExit(pid));
  Clock::time_point t1 = Clock::now();
  if (code != 1) {
    return absl::InternalError(absl::StrCat(
        o.microvm_static, " --cpus=0 exited with ", code, ", not 1 (bad flags)"));
  }
  return UsSince(t0, t1);
}

// One run's --boot_timer phases in order: ("process start to main", ms), ...
using Phases = std::vector<std::pair<std::string, double>>;

// The phases of microvm's "boot timer: set-up: NAME X ms, NAME X ms, ..."
// line in `err`.
absl::StatusOr<Phases> ParseSetUpLine(absl::string_view err) {
  constexpr absl::string_view kTag = "boot timer: set-up: ";
  const size_t at = err.find(kTag);
  if (at == absl::string_view::npos) {
    return absl::InternalError(absl::StrCat("no \"", kTag, "\" line in: ", err));
  }
  absl::string_view line = err.substr(at + kTag.size());
  line = line.substr(0, line.find('\n'));
  Phases out;
  for (absl::string_view item : absl::StrSplit(line, ", ")) {
    // "NAME X ms": the name may have spaces, the number has none.
    const size_t space = item.rfind(' ', item.size() - 4);
    double ms = 0;
    if (!absl::ConsumeSuffix(&item, " ms") || space == absl::string_view::npos ||
        !absl::SimpleAtod(item.substr(space + 1), &ms)) {
      return absl::InternalError(absl::StrCat("bad phase in: ", line));
    }
    out.emplace_back(std::string(item.substr(0, space)), ms);
  }
  return out;
}

absl::StatusOr<Phases> BinaryPhases(const Options& o) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
  UniqueFd out_read(out[0]), out_write(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
  UniqueFd err_read(err[0]), err_write(err[1]);
  MVM_ASSIGN_OR_RETURN(
      pid_t pid,
      SpawnWithStdio({o.microvm_static, "--kernel=" + o.guest_dir + "/startup.elf", "--mem=64",
                      "--boot_timer"},
                     -1, out_write.get(), err_write.get()));
  out_write.reset();
  err_write.reset();
  const int c = ReadByte(out_read.get(), kTimeoutMs);
  if (c < 0) kill(pid, SIGKILL);
  MVM_ASSIGN_OR_RETURN(int code, WaitExit(pid));
  // The set-up line is a few hundred bytes, in the pipe since the exit.
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(err_read.get(), buf, sizeof(buf))) > 0;) text.append(buf, n);
  if (c != 'S' || code != 0) {
    return absl::InternalError(absl::StrCat(o.microvm_static, " --boot_timer with startup.elf: exit status ",
                                            code, ", stderr: ", text));
  }
  return ParseSetUpLine(text);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// "process start to main" -> "process_start_to_main".
std::string CounterName(size_t place, const std::string& phase) {
  std::string name = absl::StrCat("phase", place < 9 ? "0" : "", place + 1, "_");
  for (char ch : phase) {
    name += std::isalnum(static_cast<unsigned char>(ch))
                ? static_cast<char>(std::tolower(static_cast<unsigned char>(ch)))
                : '_';
  }
  return absl::StrCat(name, "_ms");
}

void ReportPhases(benchmark::State& state, const Options& o, uint32_t runs) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<double>> ms;
  std::vector<double> sums;
  for (uint32_t i = 0; i < runs; ++i) {
    absl::StatusOr<Phases> phases = BinaryPhases(o);
    if (!phases.ok()) {
      state.SkipWithError(std::string(phases.status().message()).c_str());
      return;
    }
    double sum = 0;
    for (const auto& [name, t] : *phases) {
      if (!ms.count(name)) order.push_back(name);
      ms[name].push_back(t);
      sum += t;
    }
    sums.push_back(sum);
  }
  for (auto _ : state) state.SetIterationTime(Median(sums) / 1e3);
  for (size_t i = 0; i < order.size(); ++i) {
    state.counters[CounterName(i, order[i])] = Median(ms[order[i]]);
  }
  state.counters["samples"] = runs;
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
                                 const std::function<absl::StatusOr<double>()>& once) {
  OpSamples out;
  for (uint32_t i = 0; i < runs; ++i) {
    MVM_ASSIGN_OR_RETURN(double us, once());
    out.us.push_back(us);
  }
  out.result.samples = runs;
  return out;
}

}  // namespace

void RegisterStartupBenchmarks(const Options& o) {
  const uint32_t n = o.startup_runs;
  RegisterLatency("Startup/spawn_floor", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, [&] { return SpawnFloor(o); }), "");
  });
  RegisterLatency("Startup/binary", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, [&] { return BinaryToFirstOutput(o, o.microvm_static); }),
                  "Startup/spawn_floor");
  });
  RegisterLatency("Startup/binary_dynamic", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, [&] { return BinaryToFirstOutput(o, o.microvm); }),
                  "Startup/binary");
  });
  RegisterLatency("Startup/in_process", n, [=](benchmark::State& s) {
    ReportSamples(s, Repeat(n, [&] { return InProcessToFirstInstruction(o); }), "");
  });
  benchmark::RegisterBenchmark("Startup/phases",
                               [=](benchmark::State& s) { ReportPhases(s, o, n); })
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace microvm::bench
