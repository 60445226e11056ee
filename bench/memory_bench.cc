// SPDX-License-Identifier: Apache-2.0
// VMM memory overhead: the resident memory of every mapping of a running
// microvm process that is not guest RAM, counted the way Firecracker's
// memory-overhead test does (the sum of Rss over /proc/PID/smaps, guest
// memory left out). Firecracker's anchor: under 5 MiB; microvm's goal: at
// most 2 MiB for the static binary (vmm/hot_text.ld keeps its resident text
// small; tests/vm/cli_test checks the budget).
//
//   Memory/overhead      microvm (--mem 64) running bench/guests/idle.S,
//                        which printed "I" and halted: counters rss_kib
//                        (all mappings), guest_rss_kib (the guest RAM
//                        mapping, left out), overhead_kib (the rest),
//                        floor_kib and ratio_to_floor
//   Memory/overhead_static  the same with the fully static binary
//                        (vmm:microvm_static, the one the lab ships): no
//                        shared libraries mapped
//   Memory/process_floor the baseline: busybox's static `sleep`, the
//                        resident memory of a process that does nothing
//
// Memory is not time: the JSON's real_time of these entries means nothing;
// the counters are the result.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "bench/benchmarks.h"
#include "bench/spawn.h"

namespace microvm::bench {
namespace {

constexpr uint64_t kGuestMib = 64;
constexpr int kTimeoutMs = 120000;

struct Rss {
  uint64_t total_kib = 0;
  uint64_t guest_kib = 0;  // the anonymous mapping of exactly kGuestMib
  int guest_mappings = 0;
};

// Sums Rss over /proc/PID/smaps; a mapping of exactly `guest_bytes` that is
// anonymous (no path) counts as guest RAM.
absl::StatusOr<Rss> ReadRss(pid_t pid, uint64_t guest_bytes) {
  std::string path = absl::StrCat("/proc/", pid, "/smaps");
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  Rss rss;
  bool in_guest = false;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    if (f[0].find('-') != std::string::npos && f[0].back() != ':') {
      // "start-end perms offset dev inode [path]"
      std::vector<std::string> range = absl::StrSplit(f[0], '-');
      uint64_t start = 0, end = 0;
      if (range.size() != 2 || !absl::SimpleHexAtoi(range[0], &start) ||
          !absl::SimpleHexAtoi(range[1], &end)) {
        return absl::InternalError(absl::StrCat("bad line in ", path, ": ", line));
      }
      in_guest = end - start == guest_bytes && f.size() == 5;
      if (in_guest) ++rss.guest_mappings;
    } else if (f[0] == "Rss:" && f.size() >= 2) {
      uint64_t kib = 0;
      if (!absl::SimpleAtoi(f[1], &kib)) {
        return absl::InternalError(absl::StrCat("bad line in ", path, ": ", line));
      }
      rss.total_kib += kib;
      if (in_guest) rss.guest_kib += kib;
    }
  }
  return rss;
}

// Runs `argv`, waits for `ready` on its stdout (none: a short pause), reads
// its smaps, kills it.
absl::StatusOr<Rss> MeasureRunning(const std::vector<std::string>& argv,
                                   int ready, uint64_t guest_bytes) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  MVM_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, write_end.get(), true));
  write_end.reset();
  int c = ready >= 0 ? ReadByte(read_end.get(), kTimeoutMs) : -1;
  if (ready < 0) usleep(200 * 1000);
  absl::StatusOr<Rss> rss = ReadRss(pid, guest_bytes);
  kill(pid, SIGKILL);
  MVM_RETURN_IF_ERROR(WaitExit(pid).status());
  if (ready >= 0 && c != ready) {
    return absl::InternalError(absl::StrCat(
        argv[0], ": no '", std::string(1, static_cast<char>(ready)),
        "' from the guest on stdout"));
  }
  return rss;
}

void Floor(benchmark::State& state, const Options&) {
  absl::StatusOr<Rss> rss = MeasureRunning({"/bin/sleep", "30"}, -1, 0);
  for (auto _ : state) {
    if (!rss.ok()) {
      state.SkipWithError(std::string(rss.status().message()).c_str());
      break;
    }
    state.SetIterationTime(1e-6);
  }
  if (rss.ok()) state.counters["rss_kib"] = static_cast<double>(rss->total_kib);
}

void Overhead(benchmark::State& state, const Options& o,
              const std::string& microvm) {
  absl::StatusOr<Rss> rss = MeasureRunning(
      {microvm, "--kernel=" + o.guest_dir + "/idle.elf",
       absl::StrCat("--mem=", kGuestMib)},
      'I', kGuestMib << 20);
  absl::StatusOr<Rss> floor = MeasureRunning({"/bin/sleep", "30"}, -1, 0);
  if (rss.ok() && rss->guest_mappings != 1) {
    rss = absl::InternalError(absl::StrCat(
        "expected one ", kGuestMib, " MiB anonymous guest RAM mapping, found ",
        rss->guest_mappings));
  }
  for (auto _ : state) {
    absl::Status bad = !rss.ok() ? rss.status() : floor.status();
    if (!bad.ok()) {
      state.SkipWithError(std::string(bad.message()).c_str());
      break;
    }
    state.SetIterationTime(1e-6);
  }
  if (!rss.ok() || !floor.ok()) return;
  uint64_t overhead = rss->total_kib - rss->guest_kib;
  state.counters["rss_kib"] = static_cast<double>(rss->total_kib);
  state.counters["guest_rss_kib"] = static_cast<double>(rss->guest_kib);
  state.counters["overhead_kib"] = static_cast<double>(overhead);
  state.counters["floor_kib"] = static_cast<double>(floor->total_kib);
  state.counters["ratio_to_floor"] =
      floor->total_kib ? static_cast<double>(overhead) / floor->total_kib : 0;
  state.SetLabel("baseline=Memory/process_floor goal(static)<=2048KiB anchor(Firecracker)<5120KiB");
}

}  // namespace

void RegisterMemoryBenchmarks(const Options& o) {
  benchmark::RegisterBenchmark("Memory/process_floor",
                               [o](benchmark::State& s) { Floor(s, o); })
      ->Iterations(1)
      ->UseManualTime();
  benchmark::RegisterBenchmark(
      "Memory/overhead",
      [o](benchmark::State& s) { Overhead(s, o, o.microvm); })
      ->Iterations(1)
      ->UseManualTime();
  benchmark::RegisterBenchmark(
      "Memory/overhead_static",
      [o](benchmark::State& s) { Overhead(s, o, o.microvm_static); })
      ->Iterations(1)
      ->UseManualTime();
}

}  // namespace microvm::bench
