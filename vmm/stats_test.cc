// SPDX-License-Identifier: Apache-2.0
#include "vmm/stats.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

VmStats Example() {
  VmStats s;
  s.wall = absl::Milliseconds(1500);
  s.boots = 2;
  s.first_instruction = absl::Microseconds(4250);
  s.vcpus.push_back({0, absl::Milliseconds(250),
                     {{"KVM_EXIT_IO", 10}, {"KVM_EXIT_MMIO", 3}},
                     {{"exits", 50}, {"halt_exits", 4}}});
  s.vcpus.push_back({1, absl::Milliseconds(125), {{"KVM_EXIT_MMIO", 30}}});
  s.ranges.push_back({"PIO", "COM1", 4, 6});
  s.ranges.push_back({"PIO", "", 0, 0});
  s.ranges.push_back({"MMIO", "vfio 0000:01:00.0 BAR 0", 33, 0});
  s.ranges.push_back({"MMIO", "quote\"d\\", 0, 1});
  s.line_raises = 7;
  s.msi_triggers = 2;
  s.passthrough.push_back({"0000:01:00.0", 33, 0});
  s.dma = VmStats::Dma{512ull << 20, absl::Milliseconds(1150), 512ull << 20};
  return s;
}

TEST(StatsTest, TotalsExitsOverVcpusLargestFirst) {
  std::vector<VmStats::Count> total = Example().TotalExits();
  ASSERT_EQ(total.size(), 2u);
  EXPECT_EQ(total[0].name, "KVM_EXIT_MMIO");
  EXPECT_EQ(total[0].value, 33u);
  EXPECT_EQ(total[1].name, "KVM_EXIT_IO");
  EXPECT_EQ(total[1].value, 10u);
}

TEST(StatsTest, Table) {
  const std::string t = FormatStatsTable(Example(), "at exit");
  EXPECT_THAT(t, HasSubstr("microvm: stats: at exit, 1.500 s after microvm "
                           "started\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: boot 2 of the guest (it reset, "
                           "--on_reboot=restart); the counts below are this "
                           "boot's\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: first guest instruction at "
                           "4.250 ms\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: exits 43 (KVM_EXIT_MMIO 33, "
                           "KVM_EXIT_IO 10)\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: vCPU 1: 0.125 s CPU, exits 30 "
                           "(KVM_EXIT_MMIO 30)\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: vCPU 0 in KVM: exits 50, "
                           "halt_exits 4\n"));
  EXPECT_THAT(t, Not(HasSubstr("vCPU 1 in KVM")));
  EXPECT_THAT(t, HasSubstr("PIO COM1"));
  EXPECT_THAT(t, HasSubstr("         4 reads          6 writes\n"));
  // Ranges nobody touched stay out of the table.
  EXPECT_THAT(t, Not(HasSubstr("(no device)")));
  EXPECT_THAT(t, HasSubstr("microvm: stats: interrupts microvm injected: 7 "
                           "line raises (KVM_IRQ_LINE), 2 MSI messages\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: passthrough 0000:01:00.0: 33 "
                           "trapped BAR reads, 0 writes\n"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: DMA: 512 MiB of guest RAM mapped "
                           "in 1.150 s\n"));
  // Every line carries the prefix.
  size_t lines = 0, prefixed = 0;
  for (size_t at = 0; at < t.size(); at = t.find('\n', at) + 1, ++lines) {
    prefixed += t.compare(at, 16, "microvm: stats: ") == 0;
  }
  EXPECT_EQ(lines, prefixed);
}

// --boot_timer: the vCPUs timed their exits; the share adds the time to the
// first instruction, the exits handled on every vCPU and the other threads'
// CPU, against the time of the marker.
TEST(StatsTest, BootShare) {
  VmStats s = Example();
  s.vcpus[0].handling = absl::Milliseconds(20);
  s.vcpus[1].handling = absl::Milliseconds(5);
  s.other_threads_cpu = absl::Microseconds(10750);
  const std::string share =
      "microvm's share of the 1000.000 ms: 4.00% (40.000 ms): to the first "
      "instruction 4.250 ms, exits handled 25.000 ms (exits 43 "
      "(KVM_EXIT_MMIO 33, KVM_EXIT_IO 10)), other threads' CPU 10.750 ms";
  EXPECT_EQ(FormatBootShare(s, absl::Milliseconds(1000)), share);
  const std::string t = FormatStatsTable(s, "at exit");
  EXPECT_THAT(t, HasSubstr("microvm: stats: vCPU 0: 0.250 s CPU (0.020 s of "
                           "it handling exits), exits 13"));
  EXPECT_THAT(t, HasSubstr("microvm: stats: other threads: 0.011 s CPU since "
                           "the vCPUs started\n"));
  EXPECT_THAT(FormatStatsJson(s),
              HasSubstr("\"cpu_seconds\": 0.125000, \"handling_seconds\": "
                        "0.005000, "));
  EXPECT_THAT(FormatStatsJson(s),
              HasSubstr("\"other_threads_cpu_seconds\": 0.010750, "));
  // After a restart the times count from this boot's start.
  s.boot_start = absl::Milliseconds(500);
  s.first_instruction = absl::Microseconds(504250);
  EXPECT_EQ(FormatBootShare(s, absl::Milliseconds(1500)), share);
  // Not timed (no --boot_timer): no share, and it says why.
  s.vcpus[1].handling.reset();
  EXPECT_THAT(FormatBootShare(s, absl::Milliseconds(1000)),
              HasSubstr("not measured"));
}

TEST(StatsTest, TableBeforeTheFirstInstruction) {
  VmStats s;
  EXPECT_THAT(FormatStatsTable(s, "on SIGUSR1"),
              HasSubstr("first guest instruction: not yet\n"));
  // The first boot has no boot line.
  EXPECT_THAT(FormatStatsTable(s, "on SIGUSR1"), Not(HasSubstr("boot")));
}

TEST(StatsTest, Json) {
  EXPECT_EQ(
      FormatStatsJson(Example()),
      "{\"wall_seconds\": 1.500000, \"boots\": 2, "
      "\"first_instruction_seconds\": 0.004250, "
      "\"exits\": {\"KVM_EXIT_MMIO\": 33, \"KVM_EXIT_IO\": 10}, "
      "\"vcpus\": [{\"id\": 0, \"cpu_seconds\": 0.250000, "
      "\"handling_seconds\": null, \"exits\": "
      "{\"KVM_EXIT_IO\": 10, \"KVM_EXIT_MMIO\": 3}, \"kvm\": {\"exits\": 50, "
      "\"halt_exits\": 4}}, {\"id\": 1, \"cpu_seconds\": 0.125000, "
      "\"handling_seconds\": null, \"exits\": "
      "{\"KVM_EXIT_MMIO\": 30}, \"kvm\": {}}], "
      "\"other_threads_cpu_seconds\": null, "
      "\"ranges\": [{\"bus\": \"PIO\", \"device\": \"COM1\", \"reads\": 4, "
      "\"writes\": 6}, {\"bus\": \"PIO\", \"device\": null, \"reads\": 0, "
      "\"writes\": 0}, {\"bus\": \"MMIO\", \"device\": \"vfio 0000:01:00.0 BAR "
      "0\", \"reads\": 33, \"writes\": 0}, {\"bus\": \"MMIO\", \"device\": "
      "\"quote\\\"d\\\\\", \"reads\": 0, \"writes\": 1}], "
      "\"injected\": {\"line_raises\": 7, \"msi_messages\": 2}, "
      "\"passthrough\": [{\"device\": \"0000:01:00.0\", \"trapped_reads\": 33, "
      "\"trapped_writes\": 0}], "
      "\"dma\": {\"bytes\": 536870912, \"seconds\": 1.150000, "
      "\"total_bytes\": 536870912, \"mode\": \"eager\", "
      "\"finished_seconds\": null, \"gate_waits\": 0, "
      "\"gate_wait_seconds\": 0.000000, \"devices_ready_seconds\": null, "
      "\"config_waits\": 0, \"config_wait_seconds\": 0.000000}}\n");
}

// --dma_map=overlap: the table says the mapping went on beside the guest,
// when it ended and how long Bus Master Enable waited; part-way, how far.
TEST(StatsTest, BackgroundDma) {
  VmStats s = Example();
  s.dma->overlapped = true;
  s.dma->finished = absl::Milliseconds(1210);
  s.dma->gate_waits = 1;
  s.dma->gate_waited = absl::Milliseconds(400);
  EXPECT_THAT(FormatStatsTable(s, "at exit"),
              HasSubstr("microvm: stats: DMA: 512 MiB of guest RAM mapped in "
                        "1.150 s (while the guest booted, done 1.210 s after "
                        "microvm started); Bus Master Enable waited 1 times, "
                        "0.400 s in all\n"));
  EXPECT_THAT(FormatStatsJson(s),
              HasSubstr("\"mode\": \"overlap\", \"finished_seconds\": "
                        "1.210000, \"gate_waits\": 1, \"gate_wait_seconds\": "
                        "0.400000, \"devices_ready_seconds\": null"));
  // The devices were set up while the guest ran; one config access waited.
  s.dma->devices_ready = absl::Microseconds(95500);
  s.dma->config_waits = 1;
  s.dma->config_waited = absl::Milliseconds(3);
  EXPECT_THAT(FormatStatsTable(s, "at exit"),
              HasSubstr("0.400 s in all; devices set up 0.096 s after microvm "
                        "started, PCI config access waited 1 times, 0.003 s\n"));
  EXPECT_THAT(FormatStatsJson(s),
              HasSubstr("\"devices_ready_seconds\": 0.095500, "
                        "\"config_waits\": 1, \"config_wait_seconds\": "
                        "0.003000}"));
  s.dma->devices_ready.reset();
  s.dma->bytes = 128ull << 20;
  s.dma->finished.reset();
  EXPECT_THAT(FormatStatsTable(s, "on SIGUSR1"),
              HasSubstr("DMA: 128 of 512 MiB of guest RAM mapped in 1.150 s, "
                        "still mapping (while the guest booted); Bus Master "
                        "Enable waited 1 times, 0.400 s in all\n"));
}

TEST(StatsTest, JsonWithoutPassthroughOrFirstInstruction) {
  const std::string j = FormatStatsJson(VmStats{});
  EXPECT_THAT(j, HasSubstr("\"boots\": 1, \"first_instruction_seconds\": null"));
  EXPECT_THAT(j, HasSubstr("\"passthrough\": [], \"dma\": null}"));
}

}  // namespace
}  // namespace microvm
