// SPDX-License-Identifier: Apache-2.0
// Device passthrough (devices/vfio_pci) latencies: registered only with
// --vfio=BDF, a host PCI function bound to vfio-pci that is QEMU's edu
// device (1234:11e8): in the lab machine (tools/lab/scenarios/
// bench_passthrough.sh). Each benchmark starts the microvm binary with
// bench/guests/passthrough.elf and the device, as a user would, and drives
// the guest over its serial console; the guest times every sample with RDTSC.
//
//   Passthrough/bar_read/mmap       edu BAR0 read through the memslot that
//                                   maps the BAR (no exit)
//   Passthrough/bar_read/trapped    the same with --vfio_mmap=false: an exit,
//                                   microvm reads the VFIO region (baseline:
//                                   .../mmap)
//   Passthrough/bar_write/{mmap,trapped}   likewise for a BAR0 write
//   Passthrough/intx/irqfd          edu raises INTx -> vfio-pci's eventfd ->
//                                   KVM irqfd (resample) -> guest handler
//   Passthrough/intx/userspace      --vfio_intx=userspace: the eventfd wakes
//                                   microvm's event loop, which drives the
//                                   IOAPIC line (baseline: intx/irqfd)
//   Passthrough/msi/irqfd           edu's MSI -> VFIO -> KVM irqfd (baseline:
//                                   intx/irqfd)
//
// Beyond samples.h's counters: bar_exits (the BAR0 trap count microvm prints
// at teardown, for the whole run), bar_accesses (the guest's own count of
// its BAR0 accesses, handlers included), exits_per_access (the mmap paths
// must show 0), vmm_wakeups (context switches of microvm's threads other
// than "vcpuN" while the op ran, minus those of an idle op of the same run,
// which pays for the command on stdin like every op does; 0 when below;
// both raw counts are op_vmm_switches and idle_vmm_switches) and
// vmm_wakeups_per_10k (per 10000 samples; on the irqfd paths the VMM is not
// on the interrupt path, so the goal is 0).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "bench/benchmarks.h"
#include "bench/guests/protocol.h"
#include "bench/samples.h"
#include "bench/spawn.h"

namespace microvm::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIdleMs = 200;
constexpr int kGuestMib = 64;
constexpr auto kRunTimeout = std::chrono::seconds(600);

// Context switches (voluntary + involuntary) of every thread of `pid` whose
// name does not start with "vcpu" (vmm/vcpu.cc names them), by thread id.
using ThreadSwitches = std::map<std::string, uint64_t>;

absl::StatusOr<ThreadSwitches> VmmThreadSwitches(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  std::error_code error;
  ThreadSwitches switches;
  for (const auto& task : std::filesystem::directory_iterator(dir, error)) {
    uint64_t& total = switches[task.path().filename().string()];
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (absl::StartsWith(comm, "vcpu")) continue;
    std::ifstream status(task.path() / "status");
    for (std::string line; std::getline(status, line);) {
      std::vector<std::string> f =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      uint64_t n = 0;
      if (f.size() == 2 && absl::EndsWith(f[0], "ctxt_switches:") &&
          absl::SimpleAtoi(f[1], &n)) {
        total += n;
      }
    }
  }
  if (error) return ErrnoError(error.value(), absl::StrCat("reading ", dir));
  return switches;
}

// The switches between two readings: a thread that came meanwhile counts
// whole, one that ended (the DMA thread, once guest RAM is mapped) is left
// out rather than subtracted.
uint64_t SwitchesBetween(const ThreadSwitches& before, const ThreadSwitches& after) {
  uint64_t n = 0;
  for (const auto& [tid, count] : after) {
    auto was = before.find(tid);
    const uint64_t base = was == before.end() ? 0 : was->second;
    if (count > base) n += count - base;
  }
  return n;
}

// One op's outcome, as the guest reported it.
struct OpResult {
  std::vector<uint32_t> ticks;  // BENCH_LOST for timed-out samples
  uint32_t lost = 0;
  uint64_t accesses = 0;  // the guest's BAR0 accesses so far
  uint32_t tsc_per_us = 0;
  uint64_t vmm_switches = 0;
};

// A running microvm with the passthrough guest: stdin and merged
// stdout/stderr on pipes. Killed and reaped by the destructor if still up.
class Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Start(
      const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
    UniqueFd in_read(in[0]), in_write(in[1]);
    if (pipe2(out, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
    UniqueFd out_read(out[0]), out_write(out[1]);
    MVM_ASSIGN_OR_RETURN(pid_t pid, SpawnWithStdio(argv, in_read.get(),
                                                   out_write.get(),
                                                   out_write.get()));
    return std::unique_ptr<Session>(
        new Session(pid, std::move(in_write), std::move(out_read)));
  }

  ~Session() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      (void)WaitExit(pid_);
    }
  }

  pid_t pid() const { return pid_; }

  // Reads lines until one starts with `prefix` and returns it. A "PT error"
  // line, the end of the output or the deadline is an error that quotes the
  // last lines.
  absl::StatusOr<std::string> Expect(const std::string& prefix) {
    for (;;) {
      MVM_ASSIGN_OR_RETURN(std::string line, ReadLine());
      if (absl::StartsWith(line, "PT error")) return Failure(line);
      if (absl::StartsWith(line, prefix)) return line;
    }
  }

  absl::Status Send(const std::string& text) {
    if (::write(in_.get(), text.data(), text.size()) !=
        static_cast<ssize_t>(text.size())) {
      return LastErrnoError("writing to microvm's stdin");
    }
    return absl::OkStatus();
  }

  // Runs one op ("<op><count>") and collects its samples.
  absl::StatusOr<OpResult> Run(char op, uint32_t count) {
    MVM_RETURN_IF_ERROR(Expect("PT ready").status());
    MVM_ASSIGN_OR_RETURN(ThreadSwitches before, VmmThreadSwitches(pid_));
    MVM_RETURN_IF_ERROR(Send(absl::StrCat(std::string(1, op), count, "\n")));
    MVM_ASSIGN_OR_RETURN(std::string done, Expect("PT done"));
    MVM_ASSIGN_OR_RETURN(ThreadSwitches after, VmmThreadSwitches(pid_));
    OpResult r;
    r.vmm_switches = SwitchesBetween(before, after);
    for (absl::string_view field : absl::StrSplit(done, ' ')) {
      std::pair<std::string, std::string> kv = absl::StrSplit(field, '=');
      if (kv.first == "lost") (void)absl::SimpleAtoi(kv.second, &r.lost);
      if (kv.first == "accesses") (void)absl::SimpleAtoi(kv.second, &r.accesses);
      if (kv.first == "tsc_per_us") {
        (void)absl::SimpleAtoi(kv.second, &r.tsc_per_us);
      }
    }
    for (;;) {
      MVM_ASSIGN_OR_RETURN(std::string line, Expect("PT "));
      if (line == "PT end") break;
      if (!absl::StartsWith(line, "PT s ")) return Failure(line);
      for (absl::string_view hex :
           absl::StrSplit(line.substr(5), ' ', absl::SkipEmpty())) {
        uint32_t t = 0;
        if (!absl::SimpleHexAtoi(hex, &t)) return Failure(line);
        r.ticks.push_back(t);
      }
    }
    const size_t want = op == 'i' ? 0 : count;  // idle: count is in ms
    if (r.ticks.size() != want || r.tsc_per_us == 0) return Failure(done);
    return r;
  }

  // Sends "quit", reads the rest and waits for the exit: the whole output
  // after the last op (microvm's teardown lines).
  absl::StatusOr<std::vector<std::string>> Quit() {
    MVM_RETURN_IF_ERROR(Expect("PT ready").status());
    MVM_RETURN_IF_ERROR(Send("q0\n"));
    std::vector<std::string> rest;
    for (;;) {
      absl::StatusOr<std::string> line = ReadLine();
      if (!line.ok()) break;
      rest.push_back(*line);
    }
    MVM_ASSIGN_OR_RETURN(int code, WaitExit(pid_));
    pid_ = -1;
    if (code != 0) {
      return absl::InternalError(absl::StrCat(
          "microvm exited with status ", code, ": ",
          absl::StrJoin(Tail(), " | ")));
    }
    return rest;
  }

 private:
  Session(pid_t pid, UniqueFd in, UniqueFd out)
      : pid_(pid), in_(std::move(in)), out_(std::move(out)),
        deadline_(Clock::now() + kRunTimeout) {}

  absl::StatusOr<std::string> ReadLine() {
    for (;;) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines_.push_back(line);
        if (lines_.size() > 8) lines_.erase(lines_.begin());
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline_ - Clock::now());
      if (left.count() <= 0) return Failure("timed out");
      pollfd p{out_.get(), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Failure("timed out");
      char chunk[4096];
      ssize_t got = ::read(out_.get(), chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return Failure("microvm's output ended");
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  std::vector<std::string> Tail() const { return lines_; }

  absl::Status Failure(const std::string& what) const {
    return absl::InternalError(absl::StrCat(
        what, "; last output: ", absl::StrJoin(Tail(), " | ")));
  }

  pid_t pid_;
  UniqueFd in_, out_;
  const Clock::time_point deadline_;
  std::string buffer_;
  std::vector<std::string> lines_;
};

struct Path {
  const char* name;
  char op;
  std::vector<std::string> flags;  // microvm flags of this path
  const char* baseline;
};

// The BAR0 trap count from microvm's "vfio-pci BDF: trapped BAR accesses:
// BAR0=N ..." teardown line.
absl::StatusOr<uint64_t> Bar0Traps(const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    size_t at = line.find("trapped BAR accesses:");
    if (at == std::string::npos) continue;
    for (absl::string_view f : absl::StrSplit(line.substr(at), ' ')) {
      uint64_t n = 0;
      if (absl::ConsumePrefix(&f, "BAR0=") && absl::SimpleAtoi(f, &n)) return n;
    }
  }
  return absl::InternalError(absl::StrCat(
      "microvm printed no \"trapped BAR accesses: BAR0=N\" line; its last "
      "lines: ", absl::StrJoin(lines, " | ")));
}

void RunPath(benchmark::State& state, const Options& o, const Path& path) {
  std::vector<std::string> argv = {
      o.microvm, "--kernel=" + o.guest_dir + "/passthrough.elf",
      absl::StrCat("--mem=", kGuestMib), "--vfio=" + o.vfio};
  argv.insert(argv.end(), path.flags.begin(), path.flags.end());
  absl::StatusOr<OpResult> idle, measured;
  absl::StatusOr<uint64_t> traps;
  {
    absl::StatusOr<std::unique_ptr<Session>> session = Session::Start(argv);
    if (!session.ok()) {
      state.SkipWithError(session.status().ToString().c_str());
      return;
    }
    idle = (*session)->Run('i', kIdleMs);
    measured = idle.ok() ? (*session)->Run(path.op, state.max_iterations)
                         : idle.status();
    absl::StatusOr<std::vector<std::string>> rest =
        measured.ok() ? (*session)->Quit() : measured.status();
    traps = rest.ok() ? Bar0Traps(*rest) : rest.status();
  }
  if (!traps.ok()) {
    state.SkipWithError(traps.status().ToString().c_str());
    return;
  }
  OpSamples samples;
  samples.guest_tsc_per_us = measured->tsc_per_us;
  samples.tsc_per_us = measured->tsc_per_us;
  samples.result.samples = static_cast<uint32_t>(measured->ticks.size());
  samples.result.lost = measured->lost;
  for (uint32_t t : measured->ticks) {
    if (t != BENCH_LOST) samples.us.push_back(t / samples.tsc_per_us);
  }
  ReportSamples(state, samples, path.baseline);
  const double wakeups = static_cast<double>(measured->vmm_switches) -
                         static_cast<double>(idle->vmm_switches);
  state.counters["bar_exits"] = static_cast<double>(*traps);
  state.counters["bar_accesses"] = static_cast<double>(measured->accesses);
  state.counters["exits_per_access"] =
      measured->accesses ? static_cast<double>(*traps) /
                               static_cast<double>(measured->accesses)
                         : 0;
  // A difference of two small noisy counts: below 0 means none beyond the
  // idle op's.
  state.counters["vmm_wakeups"] = std::max(0.0, wakeups);
  state.counters["op_vmm_switches"] =
      static_cast<double>(measured->vmm_switches);
  state.counters["idle_vmm_switches"] = static_cast<double>(idle->vmm_switches);
  state.counters["vmm_wakeups_per_10k"] =
      std::max(0.0, wakeups) * 10000 /
      static_cast<double>(samples.result.samples);
}

}  // namespace

void RegisterPassthroughBenchmarks(const Options& o) {
  if (o.vfio.empty()) return;
  static const std::vector<Path>* const kPaths = new std::vector<Path>{
      {"Passthrough/bar_read/mmap", 'r', {}, ""},
      {"Passthrough/bar_read/trapped", 'r', {"--vfio_mmap=false"},
       "Passthrough/bar_read/mmap"},
      {"Passthrough/bar_write/mmap", 'w', {}, ""},
      {"Passthrough/bar_write/trapped", 'w', {"--vfio_mmap=false"},
       "Passthrough/bar_write/mmap"},
      {"Passthrough/intx/irqfd", 'x', {}, ""},
      {"Passthrough/intx/userspace", 'x', {"--vfio_intx=userspace"},
       "Passthrough/intx/irqfd"},
      {"Passthrough/msi/irqfd", 'm', {}, "Passthrough/intx/irqfd"},
  };
  for (const Path& path : *kPaths) {
    RegisterLatency(path.name, o.samples,
                    [&o, &path](benchmark::State& state) {
                      RunPath(state, o, path);
                    });
  }
}

}  // namespace microvm::bench
