// The benchmark groups (each *_bench.cc says what it measures), registered
// by bench_main.cc in this order.
#ifndef MICROVM_BENCH_BENCHMARKS_H_
#define MICROVM_BENCH_BENCHMARKS_H_

#include "bench/samples.h"

namespace microvm::bench {

void RegisterExitBenchmarks(const Options& options);
void RegisterIrqBenchmarks(const Options& options);
void RegisterStartupBenchmarks(const Options& options);
void RegisterMemoryBenchmarks(const Options& options);
// Device passthrough (vfio-pci) latencies belong here once devices/vfio
// exists: MMIO to a passed-through BAR, interrupt from the device to the
// guest handler (VFIO irqfd), both against the emulated paths above.

}  // namespace microvm::bench

#endif  // MICROVM_BENCH_BENCHMARKS_H_
