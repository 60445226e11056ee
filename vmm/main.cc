// SPDX-License-Identifier: Apache-2.0
// microvm: boot a Linux guest (or a test guest) on KVM.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <optional>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/messages.h"
#include "devices/pci_test_device.h"
#include "vmm/boot_phases.h"
#include "vmm/cli.h"
#include "vmm/sandbox/privileges.h"
#include "vmm/sandbox/seccomp.h"
#include "vmm/version.h"
#include "vmm/vm.h"

ABSL_FLAG(std::string, kernel, "",
          "Guest kernel: a Linux bzImage, an ELF64 vmlinux or an ELF64 test "
          "guest");
ABSL_FLAG(std::string, initrd, "", "Initial ramdisk (e.g. a cpio.gz)");
ABSL_FLAG(std::string, cmdline, microvm::kDefaultCmdline,
          "Kernel command line");
ABSL_FLAG(int64_t, mem, 256, "Guest memory in MiB");
ABSL_FLAG(int64_t, cpus, 1, "Number of vCPUs");
ABSL_FLAG(bool, hugepages, false,
          "Back guest memory with 2 MiB huge pages (reserve them first)");
ABSL_FLAG(bool, pci_test_device, false,
          "Add microvm's emulated PCI test device (1234:7e57) at 00:01.0");
ABSL_FLAG(std::string, vfio_intx, "irqfd",
          "INTx path of passed-through devices: irqfd (KVM irqfd with "
          "resample, the VMM stays out) or userspace (through the VMM)");
ABSL_FLAG(bool, vfio_mmap, true,
          "Map the BARs of passed-through devices into the guest; false traps "
          "every BAR access through microvm (slow: for comparison and "
          "debugging, like QEMU's x-no-mmap)");
ABSL_FLAG(std::string, dma_map, "overlap",
          "How guest RAM is mapped (pinned) for passed-through devices' DMA: "
          "overlap (on a thread of its own while the guest boots; a device's "
          "Bus Master Enable waits until it is done) or eager (all of it "
          "before the first guest instruction)");
ABSL_FLAG(std::string, kvm_device, "/dev/kvm", "KVM device node");
ABSL_FLAG(bool, boot_timer, false,
          "Report on stderr when the vCPUs start and when the guest writes a "
          "marker byte to the boot timer page at 0xf0000000 (123: init, as "
          "Firecracker's), in ms since microvm started, and after each "
          "marker microvm's own share of that time (to the first "
          "instruction, exits it handled, its other threads' CPU; the vCPUs "
          "time their exits: two clock reads per exit)");
ABSL_FLAG(bool, stats, false,
          "At exit print what the VM did on stderr: exits by reason and by "
          "device, interrupts microvm injected, trapped BAR accesses, DMA "
          "mapping, time to the first guest instruction, wall and vCPU time "
          "(kill -USR1 prints the same while it runs, with or without this)");
ABSL_FLAG(std::string, stats_json, "",
          "At exit write the --stats numbers to this file as one JSON object");
ABSL_FLAG(int64_t, shutdown_timeout, 10,
          "SIGTERM/SIGINT press the guest's ACPI power button and stop it if "
          "it is not off after this many seconds (a second signal stops it "
          "at once; 0: stop at once)");
ABSL_FLAG(std::string, on_reboot, "exit",
          "When the guest reboots: exit (microvm exits 0) or restart (reset "
          "the vCPUs and every device, passed-through ones too, load the "
          "kernel and initrd again and boot the guest again in this process, "
          "keeping its RAM mapped for DMA)");
ABSL_FLAG(std::string, cpu_affinity, "",
          "Pin vCPU threads and the event loop to host CPUs: VCPU=CPU pairs, "
          "e.g. 0=2,1=3,loop=1 (loop: the event-loop thread)");
ABSL_FLAG(int64_t, halt_poll_ns, -1,
          "This VM's KVM halt polling in ns (KVM_CAP_HALT_POLL; 0: none; -1: "
          "the kvm module's default)");
ABSL_FLAG(std::string, disable_exits, "",
          "Let the guest run these on its own CPU without exiting "
          "(KVM_CAP_X86_DISABLE_EXITS): hlt, pause, mwait, cstate, comma-"
          "separated; for guests that own dedicated host CPUs");
ABSL_FLAG(std::string, seccomp, "enforce",
          "The sandbox's per-thread seccomp filters: enforce (a system call "
          "outside a thread's list ends microvm with one line naming it), "
          "log (let through and logged by the kernel: dmesg) or off; "
          "unless given, MICROVM_SECCOMP in the environment says");
ABSL_FLAG(std::string, user, "",
          "UID:GID to switch to once the guest's files and devices are open "
          "(microvm started as root); every capability is dropped either way");
// Declared for --help only: main() takes every --vfio out of argv first,
// because Abseil keeps just the last value of a repeated flag.
ABSL_FLAG(std::string, vfio, "",
          "Host PCI device to pass through, e.g. 0000:01:00.0 (repeatable)");

namespace {

// Exit statuses besides 0 (the guest powered off or rebooted), 1 (an error,
// one line on stderr) and 130 (stopped by SIGINT/SIGTERM).
constexpr int kExitDeviceRequested = 3;  // the host took a device back
constexpr int kExitShutdownTimeout = 4;  // power button unanswered: stopped

// Abseil prints it after "microvm: " (--helpfull); --help after the version.
constexpr char kUsage[] =
    "a small, fast KVM virtual machine monitor for VFIO passthrough.\n\n"
    "usage: microvm --kernel bzImage [--initrd rootfs.cpio.gz] "
    "[--cmdline TEXT] [--mem MiB]\n"
    "               [--cpus N] [--vfio DDDD:BB:DD.F]... [options]\n"
    "       microvm --help | --version\n\n"
    "exit status: 0 the guest powered off or rebooted; 1 an error (one line "
    "on stderr says\nwhat and what to do); 3 the host took a passed-through "
    "device back; 4 SIGINT or\nSIGTERM pressed the guest's power button and "
    "it was not off within --shutdown_timeout;\n130 stopped at once by a "
    "second SIGINT or SIGTERM (or the first, with\n--shutdown_timeout 0)";

// microvm's own flags (the ones defined in this file), sorted by name, with
// --help and --version; Abseil's library flags stay out (--helpfull has them).
std::vector<microvm::FlagHelp> MicrovmFlags() {
  std::vector<microvm::FlagHelp> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename() != __FILE__) continue;
    flags.push_back({std::string(name), flag->DefaultValue(), flag->Help(),
                     flag->IsOfType<std::string>()});
  }
  flags.push_back({"help", "", "Print this help and exit (also -h; --helpfull "
                   "adds the libraries' flags).", false});
  flags.push_back({"version", "",
                   "Print the version, the commit and the build mode and exit "
                   "(also -V).",
                   false});
  std::sort(flags.begin(), flags.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return flags;
}

// A flag that takes one of two words: false for `first`, true for
// `second`; anything else is one line naming both with what they mean.
absl::StatusOr<bool> SecondOf(absl::string_view flag, absl::string_view value,
                              absl::string_view first,
                              absl::string_view first_meaning,
                              absl::string_view second,
                              absl::string_view second_meaning) {
  if (value != first && value != second) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, "=", value, ": use ", first, first_meaning,
                     " or ", second, second_meaning));
  }
  return value == second;
}

int Fail(const absl::Status& status) {
  microvm::Message(status.message());
  return 1;
}

// --stats_json's file: opened before the VM is built, so a path that cannot
// be written fails at once; written (truncated first) when the VM is done;
// removed again if microvm made it and no VM ran.
class StatsJsonFile {
 public:
  absl::Status Open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    created_ = fd_ >= 0;
    // An existing file keeps its contents until there is something to
    // write (Write truncates it).
    if (fd_ < 0 && errno == EEXIST) {
      fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    }
    if (fd_ < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--stats_json ", path, ": cannot write it (", std::strerror(errno),
          "); give a file in a directory you can write to"));
    }
    return absl::OkStatus();
  }
  absl::Status Write(const std::string& json) {
    if (::ftruncate(fd_, 0) != 0) {
      return absl::InternalError(absl::StrCat("--stats_json ", path_,
                                              ": truncating failed (",
                                              std::strerror(errno), ")"));
    }
    size_t done = 0;
    while (done < json.size()) {
      const ssize_t n = ::write(fd_, json.data() + done, json.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return absl::InternalError(absl::StrCat(
            "--stats_json ", path_, ": writing failed (",
            std::strerror(n < 0 ? errno : ENOSPC), ")"));
      }
      done += static_cast<size_t>(n);
    }
    written_ = true;
    return absl::OkStatus();
  }
  // A VM is about to run: the file stays whatever happens (removing it
  // would take a call the sandbox does not allow).
  void Keep() { created_ = false; }
  ~StatsJsonFile() {
    if (fd_ < 0) return;
    ::close(fd_);
    if (created_ && !written_) ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool created_ = false;
  bool written_ = false;
};

}  // namespace

// See main(): below the 2 MiB of a transparent huge page.
constexpr size_t kThreadStackBytes = size_t{1} << 20;

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  // SIGINT/SIGTERM (and SIGUSR1) are taken through the VM's event loop (pending until it
  // watches them); blocked first, before any thread starts so every thread
  // inherits the mask, and before the failure handler below, which would
  // otherwise take SIGTERM for a crash.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // --stats on demand, through the event loop too
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // microvm's threads (vCPUs, DMA mapping) get 1 MiB stacks, not glibc's
  // 8 MiB: where transparent huge pages are "always", an 8 MiB stack holds a
  // 2 MiB-aligned range and its first touch makes a 2 MiB page resident per
  // thread; 1 MiB cannot hold one. Their deepest path (an exit's device
  // handler formatting a message) needs a few KiB.
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) == 0) {
    if (pthread_attr_setstacksize(&attr, kThreadStackBytes) == 0) {
      (void)pthread_setattr_default_np(&attr);
    }
    pthread_attr_destroy(&attr);
  }
  absl::InitializeSymbolizer(argv[0]);
  absl::SetProgramUsageMessage(kUsage);
  // Abseil's own --version (and --helpfull's header) say the same.
  absl::FlagsUsageConfig usage_config;
  usage_config.version_string = microvm::VersionText;
  absl::SetFlagsUsageConfig(usage_config);
  std::vector<char*> argv_list(argv, argv + argc);
  const std::vector<char*> given(argv_list.begin() + 1, argv_list.end());
  if (microvm::HasSwitch(given, "help") || microvm::HasSwitch(given, "h")) {
    const std::string usage =
        absl::StrCat("microvm ", microvm::build_info::kVersion, ": ", kUsage);
    std::fputs(microvm::FormatHelp(usage, MicrovmFlags()).c_str(), stdout);
    return 0;
  }
  if (microvm::HasSwitch(given, "version") || microvm::HasSwitch(given, "V")) {
    std::fputs(microvm::VersionText().c_str(), stdout);
    return 0;
  }
  std::vector<std::string> vfio =
      microvm::ExtractRepeatedFlag(argv_list, "vfio");
  std::vector<char*> positional = absl::ParseCommandLine(
      static_cast<int>(argv_list.size()), argv_list.data());
  if (positional.size() > 1) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", positional[1],
        "': every option is a --flag (see --help)")));
  }
  microvm::CliArgs args;
  args.kernel = absl::GetFlag(FLAGS_kernel);
  args.initrd = absl::GetFlag(FLAGS_initrd);
  args.cmdline = absl::GetFlag(FLAGS_cmdline);
  args.mem_mib = absl::GetFlag(FLAGS_mem);
  args.cpus = absl::GetFlag(FLAGS_cpus);
  args.hugepages = absl::GetFlag(FLAGS_hugepages);
  args.vfio = std::move(vfio);
  args.cpu_affinity = absl::GetFlag(FLAGS_cpu_affinity);
  args.halt_poll_ns = absl::GetFlag(FLAGS_halt_poll_ns);
  args.disable_exits = absl::GetFlag(FLAGS_disable_exits);
  absl::StatusOr<microvm::CliConfig> config = microvm::ValidateArgs(args);
  if (!config.ok()) return Fail(config.status());
  for (const microvm::PciAddress& a : config->vfio) {
    config->vm.vfio_devices.push_back(a.ToString());
  }
  if (absl::GetFlag(FLAGS_pci_test_device)) {
    config->vm.pci_devices.push_back(microvm::MakePciTestDevice);
  }
  absl::StatusOr<bool> intx_userspace =
      SecondOf("vfio_intx", absl::GetFlag(FLAGS_vfio_intx), "irqfd",
               " (KVM resample)", "userspace", "");
  if (!intx_userspace.ok()) return Fail(intx_userspace.status());
  config->vm.vfio_intx_userspace = *intx_userspace;
  config->vm.vfio_mmap = absl::GetFlag(FLAGS_vfio_mmap);
  absl::StatusOr<bool> restart =
      SecondOf("on_reboot", absl::GetFlag(FLAGS_on_reboot), "exit",
               " (microvm exits 0 when the guest reboots)", "restart",
               " (it boots the guest again)");
  if (!restart.ok()) return Fail(restart.status());
  config->vm.restart_on_reset = *restart;
  absl::StatusOr<bool> eager = SecondOf(
      "dma_map", absl::GetFlag(FLAGS_dma_map), "overlap",
      " (map guest RAM for DMA while the guest boots)", "eager",
      " (before it starts)");
  if (!eager.ok()) return Fail(eager.status());
  config->vm.dma_map_overlap = !*eager;

  config->vm.handle_signals = true;
  const int64_t shutdown_timeout = absl::GetFlag(FLAGS_shutdown_timeout);
  if (shutdown_timeout < 0 || shutdown_timeout > 24 * 3600) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "--shutdown_timeout ", shutdown_timeout,
        " is out of range: give seconds, 0 (stop at once) to 86400")));
  }
  config->vm.shutdown_timeout_s = static_cast<int>(shutdown_timeout);
  absl::StatusOr<microvm::sandbox::SeccompMode> seccomp =
      !microvm::GivesFlag(given, "seccomp")
          ? microvm::sandbox::DefaultSeccompMode()
          : microvm::sandbox::ParseSeccompMode(absl::GetFlag(FLAGS_seccomp));
  if (!seccomp.ok()) return Fail(seccomp.status());
  config->vm.seccomp = *seccomp;
  config->vm.seccomp_run_thread = true;
  // A crash (a bug: it must never happen) prints where, not just a signal.
  // Under the sandbox as addresses only: symbolizing opens files
  // (/proc/self/maps, the binary), which would end the report at the
  // sandbox's line (addr2line -e microvm turns them into lines).
  absl::FailureSignalHandlerOptions crash;
  crash.symbolize_stacktrace = *seccomp == microvm::sandbox::SeccompMode::kOff;
  absl::InstallFailureSignalHandler(crash);
  std::optional<microvm::sandbox::UserIds> user;
  if (const std::string u = absl::GetFlag(FLAGS_user); !u.empty()) {
    absl::StatusOr<microvm::sandbox::UserIds> ids =
        microvm::sandbox::ParseUserIds(u);
    if (!ids.ok()) return Fail(ids.status());
    user = *ids;
  }
  config->vm.kvm_device = absl::GetFlag(FLAGS_kvm_device);
  config->vm.start = start;
  if (absl::GetFlag(FLAGS_boot_timer)) {
    config->vm.boot_timer_start = start;
    // Before the sandbox (it opens /proc/self/schedstat); no line if the
    // kernel keeps no schedstat, the phase is left out.
    if (absl::StatusOr<absl::Duration> before = microvm::TimeBeforeMain(start); before.ok()) {
      config->vm.boot_timer_before_start = *before;
    }
  }
  StatsJsonFile stats_json;
  if (const std::string path = absl::GetFlag(FLAGS_stats_json); !path.empty()) {
    if (absl::Status s = stats_json.Open(path); !s.ok()) return Fail(s);
  }

  absl::StatusOr<std::unique_ptr<microvm::Vm>> vm =
      microvm::Vm::Create(config->vm);
  if (!vm.ok()) return Fail(vm.status());
  // Every file and device is open: no privilege is needed any more. (VFIO
  // charges what it pins while the guest runs to the locked-memory limit
  // once CAP_IPC_LOCK is gone: raised first, where root may.)
  if (absl::Status dropped = microvm::sandbox::DropPrivileges(
          user, config->vm.vfio_devices.empty()
                    ? 0
                    : static_cast<uint64_t>(config->vm.mem_bytes));
      !dropped.ok()) {
    return Fail(dropped);
  }
  if (*seccomp == microvm::sandbox::SeccompMode::kLog) {
    microvm::Message(
        "--seccomp=log: system calls outside the sandbox's lists are let "
        "through and logged by the kernel (dmesg | grep type=1326)");
  }
  stats_json.Keep();
  absl::StatusOr<microvm::VmExit> exit = (*vm)->Run();
  const microvm::VmStats stats = (*vm)->Stats();
  vm->reset();
  // The guest is gone: what microvm says now needs no console line to end.
  microvm::FlushMessages();
  if (absl::GetFlag(FLAGS_stats)) {
    std::fputs(microvm::FormatStatsTable(stats, "at exit").c_str(), stderr);
  }
  if (!absl::GetFlag(FLAGS_stats_json).empty()) {
    if (absl::Status s = stats_json.Write(microvm::FormatStatsJson(stats));
        !s.ok() && exit.ok()) {
      return Fail(s);
    }
  }
  if (!exit.ok()) return Fail(exit.status());
  if (*exit == microvm::VmExit::kDeviceRequested) {
    // The line saying which device and why is already on stderr.
    return kExitDeviceRequested;
  }
  if (*exit == microvm::VmExit::kShutdownTimeout) {
    microvm::Message(absl::StrFormat(
        "the guest did not power off within %d s of the power button "
        "(--shutdown_timeout): stopped it (is acpid or systemd-logind running "
        "in the guest, with the button driver?)",
        config->vm.shutdown_timeout_s));
    return kExitShutdownTimeout;
  }
  if (*exit == microvm::VmExit::kStopped) {
    microvm::Message("stopped by a signal before the guest powered off");
    return 130;
  }
  return 0;
}
