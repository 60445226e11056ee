// SPDX-License-Identifier: Apache-2.0
// Command-line validation: pure functions from flag values to a VmConfig, so
// every rule is unit-tested without KVM.
#ifndef MICROVM_VMM_CLI_H_
#define MICROVM_VMM_CLI_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmm/vm.h"

namespace microvm {

struct PciAddress {
  uint16_t domain = 0;
  uint8_t bus = 0;
  uint8_t device = 0;
  uint8_t function = 0;
  std::string ToString() const;  // "0000:01:00.0", as sysfs names it
  bool operator==(const PciAddress&) const = default;
};

// Accepts "DDDD:BB:DD.F" and the short "BB:DD.F" (domain 0), hex digits,
// device < 32, function < 8.
absl::StatusOr<PciAddress> ParsePciAddress(const std::string& text);

struct CliArgs {
  std::string kernel;
  std::string initrd;
  std::string cmdline;
  int64_t mem_mib = 256;
  int64_t cpus = 1;
  bool hugepages = false;
  std::vector<std::string> vfio;
  std::string cpu_affinity;   // "0=2,1=3,loop=1"; "" for none
  int64_t halt_poll_ns = -1;  // -1: KVM's default
  std::string disable_exits;  // "hlt,pause"; "" for none
};

// --cpu_affinity: comma-separated VCPU=CPU pairs, VCPU a vCPU index or
// "loop" (the event-loop thread), CPU a host CPU number; each VCPU once.
struct CpuAffinity {
  std::map<int, int> vcpus;
  std::optional<int> loop;
};
absl::StatusOr<CpuAffinity> ParseCpuAffinity(const std::string& text);

// --disable_exits: comma-separated hlt, pause, mwait, cstate, as
// KVM_X86_DISABLE_EXITS_* bits.
absl::StatusOr<uint32_t> ParseDisableExits(const std::string& text);

struct CliConfig {
  VmConfig vm;
  std::vector<PciAddress> vfio;
};

// Default kernel command line: serial console on COM1 (ttyS0), reboot through
// the keyboard controller (which ends microvm cleanly), no panic wait.
inline constexpr char kDefaultCmdline[] =
    "console=ttyS0 reboot=k panic=-1 i8042.noaux";

// Abseil flags keep only the last value of a repeated flag; microvm's
// --vfio is repeatable. Removes every "--NAME VALUE" / "--NAME=VALUE" (and
// the single-dash forms) from `args` and returns the values in order. A
// trailing "--NAME" without a value is left for the flag parser to reject.
std::vector<std::string> ExtractRepeatedFlag(std::vector<char*>& args,
                                             const std::string& name);

// One microvm flag as --help lists it.
struct FlagHelp {
  std::string name;           // without dashes
  std::string default_value;  // as the flag prints it
  std::string help;           // the meaning, one sentence or two
  bool is_string = false;     // an empty default is shown as ""; an empty
                              // default of another type shows no "="
};

// True when `args` (argv without the program name, up to a "--") asks for
// `name` in any of the forms --name, -name, --name=true.
bool HasSwitch(const std::vector<char*>& args, const std::string& name);

// True when `args` gives flag `name` a value in any form: --name, -name,
// --name=..., -name=... (a default then does not apply).
bool GivesFlag(const std::vector<char*>& args, const std::string& name);

// microvm --help: the usage line, then every flag in `flags` (in the order
// given) with its default and meaning, help text wrapped to `width` columns.
std::string FormatHelp(const std::string& usage,
                       const std::vector<FlagHelp>& flags, size_t width = 80);

// Checks everything that can be checked without KVM or the kernel file
// contents: required flags, ranges, PCI address syntax and duplicates.
absl::StatusOr<CliConfig> ValidateArgs(const CliArgs& args);

}  // namespace microvm

#endif  // MICROVM_VMM_CLI_H_
