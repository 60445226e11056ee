// SPDX-License-Identifier: Apache-2.0
// microvm's latency benchmarks (bench/README.md): Google Benchmark's flags
// (--benchmark_filter, --benchmark_out=FILE --benchmark_out_format=json, ...)
// plus the flags below.
#include <benchmark/benchmark.h>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/benchmarks.h"
#include "vmm/version.h"

ABSL_FLAG(uint32_t, samples, 2000,
          "Samples (guest-timed round trips) per latency benchmark");
ABSL_FLAG(uint32_t, startup_runs, 20, "VM starts per start-up benchmark");
ABSL_FLAG(std::string, guest_dir, "bench/guests",
          "Directory holding the benchmark guests (bench.elf, startup.elf, ...)");
ABSL_FLAG(std::string, microvm, "vmm/microvm", "The microvm binary");
ABSL_FLAG(std::string, microvm_static, "vmm/microvm_static",
          "The fully static microvm binary");
ABSL_FLAG(bool, irq_spin, true,
          "Also run Irq/*/spin (the guest spins with interrupts on instead of "
          "halting)");

ABSL_FLAG(std::string, vfio, "",
          "Host PCI function for the Passthrough benchmarks: QEMU's edu "
          "device bound to vfio-pci, e.g. 0000:00:03.0 (the lab machine); "
          "empty: they are not run");

int main(int argc, char** argv) {
  // A crash prints where it happened.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler({});
  // Google Benchmark takes its flags out of argv first.
  benchmark::Initialize(&argc, argv);
  absl::ParseCommandLine(argc, argv);
  // Every report says which build it measured (bench/report.sh): the
  // benchmarks link microvm's libraries and spawn vmm/microvm of this build.
  benchmark::AddCustomContext("microvm_build", microvm::BuildSummary());
  microvm::bench::Options o;
  o.samples = absl::GetFlag(FLAGS_samples);
  o.startup_runs = absl::GetFlag(FLAGS_startup_runs);
  o.guest_dir = absl::GetFlag(FLAGS_guest_dir);
  o.microvm = absl::GetFlag(FLAGS_microvm);
  o.microvm_static = absl::GetFlag(FLAGS_microvm_static);
  o.irq_spin = absl::GetFlag(FLAGS_irq_spin);
  o.vfio = absl::GetFlag(FLAGS_vfio);
  microvm::bench::RegisterExitBenchmarks(o);
  microvm::bench::RegisterIrqBenchmarks(o);
  microvm::bench::RegisterStartupBenchmarks(o);
  microvm::bench::RegisterMemoryBenchmarks(o);
  microvm::bench::RegisterPassthroughBenchmarks(o);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
