// SPDX-License-Identifier: Apache-2.0
#include "vmm/cli.h"

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "base/linux_uapi.h"
#include "base/status.h"
#include "memory/layout.h"

namespace microvm {
namespace {

bool ParseHex(absl::string_view text, size_t max_digits, uint32_t max,
              uint32_t* out) {
  if (text.empty() || text.size() > max_digits) return false;
  uint32_t value = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    value = value * 16 + d;
  }
  if (value > max) return false;
  *out = value;
  return true;
}

}  // namespace

std::string PciAddress::ToString() const {
  return absl::StrFormat("%04x:%02x:%02x.%x", domain, bus, device, function);
}

absl::StatusOr<PciAddress> ParsePciAddress(const std::string& text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--vfio ", text, ": ", why,
        "; expected a PCI address like 0000:01:00.0 (see lspci -D)"));
  };
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  if (parts.size() != 2 && parts.size() != 3) return bad("malformed");
  uint32_t domain = 0, bus = 0, device = 0, function = 0;
  if (parts.size() == 3 && !ParseHex(parts[0], 4, 0xffff, &domain)) {
    return bad("bad domain");
  }
  if (!ParseHex(parts[parts.size() - 2], 2, 0xff, &bus)) return bad("bad bus");
  std::vector<absl::string_view> devfn =
      absl::StrSplit(parts.back(), absl::MaxSplits('.', 1));
  if (devfn.size() != 2) return bad("missing .function");
  if (!ParseHex(devfn[0], 2, 31, &device)) return bad("bad device number");
  if (!ParseHex(devfn[1], 1, 7, &function)) return bad("bad function number");
  return PciAddress{static_cast<uint16_t>(domain), static_cast<uint8_t>(bus),
                    static_cast<uint8_t>(device),
                    static_cast<uint8_t>(function)};
}

std::vector<std::string> ExtractRepeatedFlag(std::vector<char*>& args,
                                             const std::string& name) {
  std::vector<std::string> values;
  std::vector<char*> kept;
  const std::string forms[] = {"--" + name, "-" + name};
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    bool matched = false;
    if (arg == "--") {  // end of flags: keep the rest as is
      kept.insert(kept.end(), args.begin() + i, args.end());
      break;
    }
    for (const std::string& form : forms) {
      if (arg == form && i + 1 < args.size()) {
        values.emplace_back(args[++i]);
        matched = true;
      } else if (absl::StartsWith(arg, form + "=")) {
        values.emplace_back(arg.substr(form.size() + 1));
        matched = true;
      }
      if (matched) break;
    }
    if (!matched) kept.push_back(args[i]);
  }
  args = std::move(kept);
  return values;
}

bool HasSwitch(const std::vector<char*>& args, const std::string& name) {
  for (const char* arg : args) {
    const absl::string_view a = arg;
    if (a == "--") break;
    if (a == "--" + name || a == "-" + name || a == "--" + name + "=true") {
      return true;
    }
  }
  return false;
}

bool GivesFlag(const std::vector<char*>& args, const std::string& name) {
  for (const char* arg : args) {
    const absl::string_view a = arg;
    if (a == "--") break;
    for (const std::string& form : {"--" + name, "-" + name}) {
      if (a == form || absl::StartsWith(a, form + "=")) return true;
    }
  }
  return false;
}

std::string FormatHelp(const std::string& usage,
                       const std::vector<FlagHelp>& flags, size_t width) {
  // "  --name=DEFAULT" then the meaning, indented, wrapped at word breaks.
  constexpr absl::string_view kIndent = "        ";
  std::string out = absl::StrCat(usage, "\n\nOptions:\n");
  for (const FlagHelp& f : flags) {
    std::string value = f.default_value;
    if (f.is_string) value = absl::StrCat("\"", value, "\"");
    absl::StrAppend(&out, "  --", f.name, value.empty() ? "" : "=", value, "\n");
    std::string line(kIndent);
    for (absl::string_view word :
         absl::StrSplit(f.help, absl::ByAnyChar(" \n"), absl::SkipEmpty())) {
      if (line.size() > kIndent.size() && line.size() + 1 + word.size() > width) {
        absl::StrAppend(&out, line, "\n");
        line = std::string(kIndent);
      }
      absl::StrAppend(&line, line.size() > kIndent.size() ? " " : "", word);
    }
    if (line.size() > kIndent.size()) absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::StatusOr<CliConfig> ValidateArgs(const CliArgs& args) {
  CliConfig out;
  if (args.kernel.empty()) {
    return absl::InvalidArgumentError(
        "no kernel given: pass --kernel PATH (a bzImage or ELF64 vmlinux)");
  }
  const int64_t min_mib = layout::kMinRam / layout::kMiB;
  const int64_t max_mib = layout::kMaxRam / layout::kMiB;
  if (args.mem_mib < min_mib || args.mem_mib > max_mib) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--mem %d is out of range: give guest memory in MiB, %d to %d",
        args.mem_mib, min_mib, max_mib));
  }
  if (args.hugepages && args.mem_mib % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--mem %d is not a multiple of the 2 MiB huge page size",
        args.mem_mib));
  }
  // The host's limit is checked against KVM later; this is the MP table's.
  if (args.cpus < 1 || args.cpus > 254) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--cpus %d is out of range: give 1 to 254 (and at most the host's "
        "KVM limit)",
        args.cpus));
  }
  for (const std::string& text : args.vfio) {
    absl::StatusOr<PciAddress> addr = ParsePciAddress(text);
    if (!addr.ok()) return addr.status();
    for (const PciAddress& seen : out.vfio) {
      if (seen == *addr) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--vfio ", addr->ToString(), " is given twice"));
      }
    }
    out.vfio.push_back(*addr);
  }
  out.vm.kernel_path = args.kernel;
  out.vm.initrd_path = args.initrd;
  out.vm.cmdline = args.cmdline;
  out.vm.mem_bytes = static_cast<uint64_t>(args.mem_mib) * layout::kMiB;
  out.vm.cpus = static_cast<int>(args.cpus);
  out.vm.hugepages = args.hugepages;
  if (!args.cpu_affinity.empty()) {
    MVM_ASSIGN_OR_RETURN(CpuAffinity pins, ParseCpuAffinity(args.cpu_affinity));
    for (const auto& [vcpu, cpu] : pins.vcpus) {
      if (vcpu >= args.cpus) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "--cpu_affinity pins vCPU %d, but --cpus %d numbers them 0 to %d",
            vcpu, args.cpus, args.cpus - 1));
      }
    }
    out.vm.vcpu_affinity = std::move(pins.vcpus);
    out.vm.loop_affinity = pins.loop;
  }
  // KVM takes a 32-bit value (KVM_CAP_HALT_POLL).
  if (args.halt_poll_ns < -1 || args.halt_poll_ns > int64_t{UINT32_MAX}) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--halt_poll_ns %d is out of range: give nanoseconds, 0 (no polling) "
        "to %u",
        args.halt_poll_ns, UINT32_MAX));
  }
  if (args.halt_poll_ns >= 0) {
    out.vm.halt_poll_ns = static_cast<uint64_t>(args.halt_poll_ns);
  }
  MVM_ASSIGN_OR_RETURN(out.vm.disable_exits,
                       ParseDisableExits(args.disable_exits));
  return out;
}

absl::StatusOr<CpuAffinity> ParseCpuAffinity(const std::string& text) {
  CpuAffinity out;
  auto bad = [&text](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--cpu_affinity ", text, ": ", why,
        " (give VCPU=CPU pairs separated by commas, VCPU a vCPU index or "
        "\"loop\" for the event loop, e.g. 0=2,1=3,loop=1)"));
  };
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::vector<absl::string_view> kv = absl::StrSplit(item, '=');
    int cpu = -1;
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &cpu) || cpu < 0) {
      return bad(absl::StrCat("'", item, "' is not VCPU=CPU"));
    }
    if (kv[0] == "loop") {
      if (out.loop.has_value()) return bad("the loop is pinned twice");
      out.loop = cpu;
      continue;
    }
    int vcpu = -1;
    if (!absl::SimpleAtoi(kv[0], &vcpu) || vcpu < 0) {
      return bad(absl::StrCat("'", kv[0], "' is neither a vCPU index nor loop"));
    }
    if (!out.vcpus.emplace(vcpu, cpu).second) {
      return bad(absl::StrCat("vCPU ", vcpu, " is pinned twice"));
    }
  }
  return out;
}

absl::StatusOr<uint32_t> ParseDisableExits(const std::string& text) {
  uint32_t bits = 0;
  if (text.empty()) return bits;
  for (absl::string_view name : absl::StrSplit(text, ',')) {
    uint32_t bit = 0;
    if (name == "mwait") {
      bit = KVM_X86_DISABLE_EXITS_MWAIT;
    } else if (name == "hlt") {
      bit = KVM_X86_DISABLE_EXITS_HLT;
    } else if (name == "pause") {
      bit = KVM_X86_DISABLE_EXITS_PAUSE;
    } else if (name == "cstate") {
      bit = KVM_X86_DISABLE_EXITS_CSTATE;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--disable_exits ", text, ": unknown exit '", name,
          "' (give hlt, pause, mwait or cstate, separated by commas)"));
    }
    bits |= bit;
  }
  return bits;
}

}  // namespace microvm
