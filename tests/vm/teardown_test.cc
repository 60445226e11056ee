// SPDX-License-Identifier: Apache-2.0
// A VM's end leaves nothing behind: in one process, after a warm-up, the
// open file descriptors (/proc/self/fd), threads (/proc/self/task) and
// memory mappings (/proc/self/maps) are snapshotted; then VMs end every way
// they can, several times each: guest power-off, guest reset, triple fault,
// a KVM internal error, Stop() from another thread, SIGTERM, and Vm::Create()
// failing before and after KVM was opened. After each, the snapshot must be
// back to the baseline exactly.
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "devices/pci_test_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/pci_device.h"
#include "tests/vm/run_bounded.h"
#include "vmm/vm.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;

constexpr int kRunTimeoutSeconds = 60;
constexpr int kRepeats = 3;

struct Snapshot {
  std::vector<std::string> fds;  // "number -> target", sorted by number
  int threads = 0;
  int maps = 0;
  std::vector<std::string> map_lines;  // for the failure message
};

std::vector<std::string> DirEntries(const char* path) {
  std::vector<std::string> names;
  DIR* dir = opendir(path);
  if (dir == nullptr) return names;
  const int own = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name == std::to_string(own) && absl::StrContains(path, "/fd")) continue;
    names.push_back(name);
  }
  closedir(dir);
  return names;
}

Snapshot Take() {
  Snapshot s;
  std::vector<std::string> fds = DirEntries("/proc/self/fd");
  std::sort(fds.begin(), fds.end(), [](const std::string& a,
                                       const std::string& b) {
    return std::stoi(a) < std::stoi(b);
  });
  for (const std::string& fd : fds) {
    char target[256] = {};
    ssize_t n = readlink(("/proc/self/fd/" + fd).c_str(), target,
                         sizeof(target) - 1);
    s.fds.push_back(fd + " -> " + (n > 0 ? std::string(target, n) : "?"));
  }
  s.threads = static_cast<int>(DirEntries("/proc/self/task").size());
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
#if defined(__SANITIZE_ADDRESS__)
    // Under --config=asan, ASan's allocator maps anonymous regions of its own
    // as its size classes grow and never returns them, so anonymous mappings
    // are not counted there (LeakSanitizer covers the heap); named ones,
    // such as each vCPU's kvm_run ("anon_inode:kvm-vcpu:N"), still are.
    // Other builds count every mapping.
    std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 6) continue;
#endif
    s.maps++;
    s.map_lines.push_back(line);
  }
  return s;
}

// The snapshot's fd targets ("anon_inode:[eventfd]"), sorted.
std::vector<std::string> Targets(const Snapshot& s) {
  std::vector<std::string> targets;
  for (const std::string& fd : s.fds) targets.push_back(fd.substr(fd.find(" -> ")));
  std::sort(targets.begin(), targets.end());
  return targets;
}

// The mappings only one of the two snapshots has.
std::string MapsDiff(const Snapshot& a, const Snapshot& b) {
  std::string out;
  for (const std::string& l : a.map_lines) {
    if (std::find(b.map_lines.begin(), b.map_lines.end(), l) ==
        b.map_lines.end()) {
      absl::StrAppend(&out, "- ", l, "\n");
    }
  }
  for (const std::string& l : b.map_lines) {
    if (std::find(a.map_lines.begin(), a.map_lines.end(), l) ==
        a.map_lines.end()) {
      absl::StrAppend(&out, "+ ", l, "\n");
    }
  }
  return out;
}

// How one run is set up and started.
enum class Stopper { kNone, kStopCall, kSignal };

struct Case {
  std::string name;
  std::string guest;  // tests/guests/<guest>.elf
  int pci_devices = 0;
  Stopper stopper = Stopper::kNone;
  // What the guest prints once it runs, for the stopper to wait for.
  std::string running_line = "spin: running until stopped";
  std::function<void(VmConfig&)> tweak;  // changes the config
  // What must come out: a VmExit, or (expect_error) an error containing
  // `error_part`.
  VmExit exit = VmExit::kPowerOff;
  bool expect_error = false;
  std::string error_part;
};

std::string ReadAll(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  for (off_t at = 0; (n = pread(fd, buf, sizeof(buf), at)) > 0; at += n) {
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

// Waits (bounded) until the guest's console shows `line`: the guest is up
// and running, so stopping it now exercises a running VM's teardown.
bool WaitForConsole(int fd, const std::string& line) {
  for (int i = 0; i < kRunTimeoutSeconds * 100; ++i) {
    if (absl::StrContains(ReadAll(fd), line)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void RunCase(const Case& c) {
  SCOPED_TRACE(c.name);
  char path[] = "/tmp/teardown_test_console.XXXXXX";
  const int out_fd = mkstemp(path);
  ASSERT_GE(out_fd, 0);
  unlink(path);
  VmConfig config;
  config.kernel_path = "tests/guests/" + c.guest + ".elf";
  config.mem_bytes = 64ull << 20;
  config.console_out_fd = out_fd;
  config.console_in_fd = -1;
  config.handle_signals = c.stopper == Stopper::kSignal;
  for (int i = 0; i < c.pci_devices; ++i) {
    config.pci_devices.push_back(MakePciTestDevice);
  }
  if (c.tweak) c.tweak(config);

  absl::StatusOr<VmExit> exit = absl::UnknownError("not run");
  bool timed_out = false;
  {
    absl::StatusOr<std::unique_ptr<Vm>> vm = Vm::Create(config);
    if (!vm.ok()) {
      exit = vm.status();
    } else if (c.stopper == Stopper::kNone) {
      exit = testing::RunBounded(**vm, std::chrono::seconds(kRunTimeoutSeconds),
                                 &timed_out);
    } else {
      // The stopper waits for the guest to be running, then stops it from
      // its own thread while this one is inside Run().
      bool running = false;
      std::thread stopper([&] {
        running = WaitForConsole(out_fd, c.running_line);
        if (c.stopper == Stopper::kStopCall || !running) {
          (*vm)->Stop();
        } else {
          kill(getpid(), SIGTERM);
        }
      });
      exit = (*vm)->Run();
      stopper.join();
      EXPECT_TRUE(running) << "the guest never printed its line:\n"
                           << ReadAll(out_fd);
    }
  }
  const std::string console = ReadAll(out_fd);
  close(out_fd);
  std::printf("%s: %s\n", c.name.c_str(),
              exit.ok() ? (*exit == VmExit::kPowerOff ? "kPowerOff"
                           : *exit == VmExit::kReset  ? "kReset"
                                                      : "kStopped")
                        : exit.status().ToString().c_str());
  EXPECT_FALSE(timed_out) << console;
  if (c.expect_error) {
    ASSERT_FALSE(exit.ok()) << "ended without an error; console:\n" << console;
    EXPECT_THAT(std::string(exit.status().message()), HasSubstr(c.error_part));
  } else {
    ASSERT_TRUE(exit.ok()) << exit.status() << "\nconsole:\n" << console;
    EXPECT_EQ(*exit, c.exit) << console;
  }
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({.name = "guest power-off", .guest = "poweroff"});
  cases.push_back({.name = "power-off with a PCI device",
                   .guest = "pci_enum",
                   .pci_devices = 2});
  cases.push_back(
      {.name = "guest reset", .guest = "reset", .exit = VmExit::kReset});
  cases.push_back({.name = "triple fault",
                   .guest = "triple_fault",
                   .expect_error = true,
                   .error_part = "triple-faulted"});
  cases.push_back({.name = "KVM internal error",
                   .guest = "exec_mmio",
                   .expect_error = true,
                   .error_part = "KVM internal error"});
  cases.push_back({.name = "Stop() from another thread",
                   .guest = "spin",
                   .pci_devices = 1,
                   .stopper = Stopper::kStopCall,
                   .exit = VmExit::kStopped});
  // --on_reboot=restart with a guest that resets at once, again and again:
  // Stop() lands in a boot or between two, while the next one is built.
  cases.push_back({.name = "Stop() while the guest reboots in a loop",
                   .guest = "reset",
                   .pci_devices = 1,
                   .stopper = Stopper::kStopCall,
                   .running_line = "reset: writing 0xfe to port 0x64",
                   .tweak = [](VmConfig& c) { c.restart_on_reset = true; },
                   .exit = VmExit::kStopped});
  cases.push_back({.name = "SIGTERM",
                   .guest = "spin",
                   .stopper = Stopper::kSignal,
                   .exit = VmExit::kStopped});
  cases.push_back({.name = "Create() fails before KVM (no kernel)",
                   .guest = "no_such_guest",
                   .expect_error = true,
                   .error_part = "no_such_guest"});
  cases.push_back({.name = "Create() fails after KVM (bus 0 is full)",
                   .guest = "poweroff",
                   .pci_devices = 32,
                   .expect_error = true,
                   .error_part = "PCI"});
  cases.push_back(
      {.name = "Create() fails after KVM (a PCI device fails)",
       .guest = "poweroff",
       .pci_devices = 1,
       .tweak =
           [](VmConfig& c) {
             c.pci_devices.push_back([](InterruptController&)
                                         -> absl::StatusOr<
                                             std::shared_ptr<pci::PciDevice>> {
               return absl::InternalError("teardown_test: this device fails");
             });
           },
       .expect_error = true,
       .error_part = "this device fails"});
  cases.push_back({.name = "Create() fails after KVM (no such VFIO device)",
                   .guest = "poweroff",
                   .pci_devices = 1,
                   .tweak =
                       [](VmConfig& c) {
                         c.vfio_devices.push_back("0000:ff:1f.7");
                       },
                   .expect_error = true,
                   .error_part = "no PCI device 0000:ff:1f.7"});
  return cases;
}

// glibc gives a thread that meets a locked arena a new one (a 64 MiB
// mapping) the first time that happens, which depends on timing, not on
// microvm; one arena keeps the mapping count a property of microvm alone.
void OneMallocArena() { mallopt(M_ARENA_MAX, 1); }

TEST(TeardownTest, EveryWayAVmEndsLeavesNothingBehind) {
  OneMallocArena();
  // SIGTERM goes to a signalfd: blocked here, before any thread exists, so
  // every thread inherits the mask (as microvm's main does).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);

  const std::vector<Case> cases = Cases();
  // Warm-up: one-time allocations (the kick signal handler, thread stacks
  // that the C library caches, allocator arenas) happen here.
  for (const Case& c : cases) RunCase(c);
  if (HasFailure()) return;
  const Snapshot baseline = Take();

  for (int round = 0; round < kRepeats; ++round) {
    for (const Case& c : cases) {
      RunCase(c);
      const Snapshot now = Take();
      EXPECT_EQ(now.fds, baseline.fds) << c.name << ", round " << round;
      EXPECT_EQ(now.threads, baseline.threads) << c.name << ", round " << round;
      EXPECT_EQ(now.maps, baseline.maps)
          << c.name << ", round " << round << "; mappings gone (-) and new "
          << "(+):\n" << MapsDiff(baseline, now);
    }
  }
}

// --on_reboot=restart: 20 boots of the reboot guest in one Run(). Each boot
// is a new KVM VM with new vCPUs, devices and event loop over the same guest
// memory; what each boot holds (fds, threads, mappings) while the guest waits
// at "reboot: boot N ready" must be what the first boot held, exactly.
TEST(TeardownTest, RebootingInPlaceLeavesNothingBehind) {
  OneMallocArena();
  constexpr int kBoots = 20;  // tests/guests/reboot.c REBOOT_BOOTS
  char path[] = "/tmp/teardown_test_reboot.XXXXXX";
  const int out_fd = mkstemp(path);
  ASSERT_GE(out_fd, 0);
  unlink(path);
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  VmConfig config;
  config.kernel_path = "tests/guests/reboot.elf";
  config.mem_bytes = 64ull << 20;
  config.console_out_fd = out_fd;
  config.console_in_fd = in[0];
  config.pci_devices.push_back(MakePciTestDevice);
  config.restart_on_reset = true;

  absl::StatusOr<std::unique_ptr<Vm>> vm = Vm::Create(config);
  ASSERT_TRUE(vm.ok()) << vm.status();
  std::vector<Snapshot> at_boot;
  std::thread driver([&] {
    for (int boot = 1; boot <= kBoots; ++boot) {
      if (!WaitForConsole(out_fd, absl::StrCat("reboot: boot ", boot, " ready"))) {
        (*vm)->Stop();
        return;
      }
      at_boot.push_back(Take());
      if (write(in[1], "x", 1) != 1) {
        (*vm)->Stop();
        return;
      }
    }
  });
  absl::StatusOr<VmExit> exit = (*vm)->Run();
  driver.join();
  const VmStats stats = (*vm)->Stats();
  vm->reset();
  const std::string console = ReadAll(out_fd);
  close(out_fd);
  close(in[0]);
  close(in[1]);

  ASSERT_TRUE(exit.ok()) << exit.status() << "\nconsole:\n" << console;
  EXPECT_EQ(*exit, VmExit::kPowerOff) << console;
  EXPECT_THAT(console, HasSubstr("PASS reboot: 20 boots"));
  EXPECT_THAT(console, ::testing::Not(HasSubstr("FAIL")));
  EXPECT_EQ(stats.boots, kBoots);
  ASSERT_EQ(at_boot.size(), static_cast<size_t>(kBoots)) << console;
  for (int boot = 2; boot <= kBoots; ++boot) {
    const Snapshot& now = at_boot[boot - 1];
    // What each fd is, not its number: a boot's eventfd may take a number
    // that was briefly in use when the first boot made it.
    EXPECT_EQ(Targets(now), Targets(at_boot[0])) << "boot " << boot;
    EXPECT_EQ(now.threads, at_boot[0].threads) << "boot " << boot;
    EXPECT_EQ(now.maps, at_boot[0].maps)
        << "boot " << boot << "; mappings gone (-) and new (+):\n"
        << MapsDiff(at_boot[0], now);
  }
}

}  // namespace
}  // namespace microvm
