/* SPDX-License-Identifier: Apache-2.0 */
/* The whole-process exit guest: on its own (no host protocol), times
 * EXITS_BATCHES batches of EXITS_PER_BATCH PIO exits (out to
 * BENCH_PORT_EXIT) and as many MMIO exits (a write to BENCH_MMIO_EXIT),
 * each exit with RDTSC, and prints one line per batch with its median in
 * TSC ticks, "PIO <ticks>" or "MMIO <ticks>", then "EXITS done" and powers
 * off. Nothing is mapped at either address, so the VMM's work is its exit
 * path alone. bench/exits_bench.cc runs it under the microvm binary and
 * under a bare KVM_RUN loop in a process of its own (bench/bare_exits.cc). */
#include "guest.h"
#include "protocol.h"

#define EXITS_BATCHES 20
#define EXITS_PER_BATCH 51

static uint32_t median(uint32_t *t, int n) {
  for (int i = 1; i < n; i++) {
    uint32_t v = t[i];
    int j = i - 1;
    while (j >= 0 && t[j] > v) {
      t[j + 1] = t[j];
      j--;
    }
    t[j + 1] = v;
  }
  return t[n / 2];
}

static uint32_t delta(uint64_t from, uint64_t to) {
  uint64_t d = to - from;
  return d > 0xffffffffu ? 0xffffffffu : (uint32_t)d;
}

int guest_main(void) {
  static uint32_t t[EXITS_PER_BATCH];
  for (int b = 0; b < EXITS_BATCHES; b++) {
    for (int i = 0; i < EXITS_PER_BATCH; i++) {
      uint64_t t0 = rdtsc();
      outl(BENCH_PORT_EXIT, (uint32_t)i);
      t[i] = delta(t0, rdtsc());
    }
    print("PIO %u\n", median(t, EXITS_PER_BATCH));
    for (int i = 0; i < EXITS_PER_BATCH; i++) {
      uint64_t t0 = rdtsc();
      mmio_write32(BENCH_MMIO_EXIT, (uint32_t)i);
      t[i] = delta(t0, rdtsc());
    }
    print("MMIO %u\n", median(t, EXITS_PER_BATCH));
  }
  print("EXITS done\n");
  return 0;
}
