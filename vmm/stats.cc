// SPDX-License-Identifier: Apache-2.0
#include "vmm/stats.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace microvm {
namespace {

constexpr char kPrefix[] = "microvm: stats: ";

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.6f", absl::ToDoubleSeconds(d));
}

// JSON string literal (RFC 8259 7): quotes, backslashes and control
// characters escaped; labels are ASCII.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string CountsJson(const std::vector<VmStats::Count>& counts) {
  std::vector<std::string> items;
  for (const VmStats::Count& c : counts) {
    items.push_back(absl::StrCat(Quote(c.name), ": ", c.value));
  }
  return absl::StrCat("{", absl::StrJoin(items, ", "), "}");
}

std::string CountsText(const std::vector<VmStats::Count>& counts) {
  uint64_t total = 0;
  for (const VmStats::Count& c : counts) total += c.value;
  std::vector<std::string> items;
  for (const VmStats::Count& c : counts) {
    items.push_back(absl::StrCat(c.name, " ", c.value));
  }
  return absl::StrCat(total, items.empty() ? "" : " (",
                      absl::StrJoin(items, ", "), items.empty() ? "" : ")");
}

}  // namespace

std::vector<VmStats::Count> VmStats::TotalExits() const {
  std::map<std::string, uint64_t> sum;
  for (const Vcpu& v : vcpus) {
    for (const Count& c : v.exits) sum[c.name] += c.value;
  }
  std::vector<Count> out;
  for (const auto& [name, value] : sum) out.push_back({name, value});
  std::stable_sort(out.begin(), out.end(), [](const Count& a, const Count& b) {
    return a.value > b.value;
  });
  return out;
}

std::string FormatBootShare(const VmStats& s, absl::Duration at) {
  absl::Duration handling;
  for (const VmStats::Vcpu& v : s.vcpus) {
    if (!v.handling.has_value()) {
      return "microvm's share: not measured (the vCPUs do not time their exits)";
    }
    handling += *v.handling;
  }
  // After a restart, this boot's times.
  const absl::Duration from = s.boot_start.value_or(absl::ZeroDuration());
  at -= from;
  const absl::Duration first = s.first_instruction.value_or(at + from) - from;
  const absl::Duration other = s.other_threads_cpu.value_or(absl::ZeroDuration());
  const absl::Duration own = first + handling + other;
  auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
  return absl::StrFormat(
      "microvm's share of the %.3f ms: %.2f%% (%.3f ms): to the first "
      "instruction %.3f ms, exits handled %.3f ms (exits %s), other threads' "
      "CPU %.3f ms",
      ms(at),
      at > absl::ZeroDuration() ? 100 * absl::FDivDuration(own, at) : 0.0,
      ms(own), ms(first), ms(handling), CountsText(s.TotalExits()), ms(other));
}

std::string FormatStatsTable(const VmStats& s, const std::string& when) {
  std::string out;
  auto line = [&out](const std::string& text) {
    absl::StrAppend(&out, kPrefix, text, "\n");
  };
  line(absl::StrFormat("%s, %.3f s after microvm started", when,
                       absl::ToDoubleSeconds(s.wall)));
  if (s.boots > 1) {
    line(absl::StrFormat("boot %d of the guest (it reset, --on_reboot=restart); "
                         "the counts below are this boot's",
                         s.boots));
  }
  line(s.first_instruction.has_value()
           ? absl::StrFormat("first guest instruction at %.3f ms",
                             absl::ToDoubleMilliseconds(*s.first_instruction))
           : std::string("first guest instruction: not yet"));
  line(absl::StrCat("exits ", CountsText(s.TotalExits())));
  for (const VmStats::Vcpu& v : s.vcpus) {
    line(absl::StrFormat(
        "vCPU %d: %.3f s CPU%s, exits %s", v.id, absl::ToDoubleSeconds(v.cpu),
        v.handling.has_value()
            ? absl::StrFormat(" (%.3f s of it handling exits)",
                              absl::ToDoubleSeconds(*v.handling))
            : "",
        CountsText(v.exits)));
    if (!v.kvm.empty()) {
      std::vector<std::string> items;
      for (const VmStats::Count& c : v.kvm) {
        items.push_back(absl::StrCat(c.name, " ", c.value));
      }
      line(absl::StrFormat("vCPU %d in KVM: %s", v.id,
                           absl::StrJoin(items, ", ")));
    }
  }
  if (s.other_threads_cpu.has_value()) {
    line(absl::StrFormat("other threads: %.3f s CPU since the vCPUs started",
                         absl::ToDoubleSeconds(*s.other_threads_cpu)));
  }
  // Busiest ranges first; ranges with no access left out of the table.
  std::vector<VmStats::Range> ranges = s.ranges;
  std::stable_sort(ranges.begin(), ranges.end(),
                   [](const VmStats::Range& a, const VmStats::Range& b) {
                     return a.reads + a.writes > b.reads + b.writes;
                   });
  size_t width = 0;
  for (const VmStats::Range& r : ranges) {
    width = std::max(width, r.bus.size() + 1 + std::max<size_t>(
                                                   r.device.size(), 11));
  }
  for (const VmStats::Range& r : ranges) {
    if (r.reads + r.writes == 0) continue;
    const std::string name = absl::StrCat(
        r.bus, " ", r.device.empty() ? "(no device)" : r.device);
    line(absl::StrFormat("%-*s %10u reads %10u writes", static_cast<int>(width),
                         name, r.reads, r.writes));
  }
  line(absl::StrFormat(
      "interrupts microvm injected: %u line raises (KVM_IRQ_LINE), %u MSI "
      "messages",
      s.line_raises, s.msi_triggers));
  for (const VmStats::Passthrough& p : s.passthrough) {
    line(absl::StrFormat("passthrough %s: %u trapped BAR reads, %u writes",
                         p.device, p.trapped_reads, p.trapped_writes));
  }
  if (s.dma.has_value()) {
    const VmStats::Dma& d = *s.dma;
    std::string text =
        d.bytes == d.total
            ? absl::StrFormat("DMA: %u MiB of guest RAM mapped in %.3f s",
                              d.bytes >> 20, absl::ToDoubleSeconds(d.elapsed))
            : absl::StrFormat(
                  "DMA: %u of %u MiB of guest RAM mapped in %.3f s, %s",
                  d.bytes >> 20, d.total >> 20,
                  absl::ToDoubleSeconds(d.elapsed),
                  d.finished.has_value() ? "failed" : "still mapping");
    if (d.overlapped) {
      absl::StrAppend(&text, " (while the guest booted");
      if (d.finished.has_value() && d.bytes == d.total) {
        absl::StrAppend(&text,
                        absl::StrFormat(", done %.3f s after microvm started",
                                        absl::ToDoubleSeconds(*d.finished)));
      }
      absl::StrAppend(
          &text, absl::StrFormat("); Bus Master Enable waited %d times, "
                                 "%.3f s in all",
                                 d.gate_waits,
                                 absl::ToDoubleSeconds(d.gate_waited)));
      if (d.devices_ready.has_value()) {
        absl::StrAppend(
            &text,
            absl::StrFormat("; devices set up %.3f s after microvm started, "
                            "PCI config access waited %d times, %.3f s",
                            absl::ToDoubleSeconds(*d.devices_ready),
                            d.config_waits,
                            absl::ToDoubleSeconds(d.config_waited)));
      }
    }
    line(text);
  }
  return out;
}

std::string FormatStatsJson(const VmStats& s) {
  std::vector<std::string> fields;
  fields.push_back(absl::StrCat("\"wall_seconds\": ", Seconds(s.wall)));
  fields.push_back(absl::StrCat("\"boots\": ", s.boots));
  fields.push_back(absl::StrCat(
      "\"first_instruction_seconds\": ",
      s.first_instruction.has_value() ? Seconds(*s.first_instruction)
                                      : std::string("null")));
  fields.push_back(absl::StrCat("\"exits\": ", CountsJson(s.TotalExits())));
  std::vector<std::string> vcpus;
  for (const VmStats::Vcpu& v : s.vcpus) {
    vcpus.push_back(absl::StrCat("{\"id\": ", v.id, ", \"cpu_seconds\": ",
                                 Seconds(v.cpu), ", \"handling_seconds\": ",
                                 v.handling.has_value() ? Seconds(*v.handling)
                                                        : std::string("null"),
                                 ", \"exits\": ", CountsJson(v.exits),
                                 ", \"kvm\": ", CountsJson(v.kvm), "}"));
  }
  fields.push_back(absl::StrCat("\"vcpus\": [", absl::StrJoin(vcpus, ", "), "]"));
  fields.push_back(absl::StrCat("\"other_threads_cpu_seconds\": ",
                                s.other_threads_cpu.has_value()
                                    ? Seconds(*s.other_threads_cpu)
                                    : std::string("null")));
  std::vector<std::string> ranges;
  for (const VmStats::Range& r : s.ranges) {
    ranges.push_back(absl::StrCat(
        "{\"bus\": ", Quote(r.bus), ", \"device\": ",
        r.device.empty() ? std::string("null") : Quote(r.device),
        ", \"reads\": ", r.reads, ", \"writes\": ", r.writes, "}"));
  }
  fields.push_back(
      absl::StrCat("\"ranges\": [", absl::StrJoin(ranges, ", "), "]"));
  fields.push_back(absl::StrCat("\"injected\": {\"line_raises\": ",
                                s.line_raises, ", \"msi_messages\": ",
                                s.msi_triggers, "}"));
  std::vector<std::string> devices;
  for (const VmStats::Passthrough& p : s.passthrough) {
    devices.push_back(absl::StrCat(
        "{\"device\": ", Quote(p.device), ", \"trapped_reads\": ",
        p.trapped_reads, ", \"trapped_writes\": ", p.trapped_writes, "}"));
  }
  fields.push_back(
      absl::StrCat("\"passthrough\": [", absl::StrJoin(devices, ", "), "]"));
  fields.push_back(absl::StrCat(
      "\"dma\": ", s.dma.has_value()
                       ? absl::StrCat(
                             "{\"bytes\": ", s.dma->bytes,
                             ", \"seconds\": ", Seconds(s.dma->elapsed),
                             ", \"total_bytes\": ", s.dma->total,
                             ", \"mode\": ",
                             Quote(s.dma->overlapped ? "overlap" : "eager"),
                             ", \"finished_seconds\": ",
                             s.dma->finished.has_value()
                                 ? Seconds(*s.dma->finished)
                                 : std::string("null"),
                             ", \"gate_waits\": ", s.dma->gate_waits,
                             ", \"gate_wait_seconds\": ",
                             Seconds(s.dma->gate_waited),
                             ", \"devices_ready_seconds\": ",
                             s.dma->devices_ready.has_value()
                                 ? Seconds(*s.dma->devices_ready)
                                 : std::string("null"),
                             ", \"config_waits\": ", s.dma->config_waits,
                             ", \"config_wait_seconds\": ",
                             Seconds(s.dma->config_waited), "}")
                       : std::string("null")));
  return absl::StrCat("{", absl::StrJoin(fields, ", "), "}\n");
}

}  // namespace microvm
