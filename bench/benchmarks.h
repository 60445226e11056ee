// SPDX-License-Identifier: Apache-2.0
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
// Only with options.vfio (the lab: tools/lab/scenarios/bench_passthrough.sh).
void RegisterPassthroughBenchmarks(const Options& options);

}  // namespace microvm::bench

#endif  // MICROVM_BENCH_BENCHMARKS_H_
