/* SPDX-License-Identifier: Apache-2.0 */
/* The latency-benchmark guest: runs the ops of protocol.h as the host posts
 * them, timing each sample with RDTSC, until BENCH_OP_QUIT.
 *
 * A sample is the TSC delta from just before the measured access to the
 * moment the guest sees its effect: the access completing (exits, writes),
 * the host's acknowledgement in memory (NOTIFY_ACK) or the interrupt
 * handler's first instruction (IRQ_*). Waits are bounded: a timed-out
 * sample is BENCH_LOST. IRQ_HLT waits with wait_until(), whose LAPIC rescue
 * timer keeps a lost wake-up (see ENVIRONMENT.md: nested KVM) from hanging
 * the guest; its rescues are reported. */
#include "guest.h"
#include "protocol.h"

#define WAIT_MS 1000

static volatile uint32_t *const samples = (uint32_t *)BENCH_SAMPLES_GPA;
static volatile uint32_t *const ack = (uint32_t *)BENCH_ACK_GPA;
static volatile struct bench_result *const result =
    (struct bench_result *)BENCH_RESULT_GPA;

static volatile uint64_t irq_tsc;
static volatile uint32_t irq_count;

static void on_irq(struct isr_frame *f) {
  (void)f;
  irq_tsc = rdtsc();
  irq_count++;
  lapic_eoi();
}

static uint32_t ticks(uint64_t from, uint64_t to) {
  uint64_t d = to - from;
  return d >= BENCH_LOST ? BENCH_LOST - 1 : (uint32_t)d;
}

static bool irq_after(void *before) {
  return irq_count != *(uint32_t *)before;
}

/* Spins with interrupts on until `done` or WAIT_MS pass. */
static bool spin_until(bool (*done)(void *), void *arg) {
  uint64_t deadline = rdtsc() + (uint64_t)WAIT_MS * 1000 * tsc_per_us;
  bool ok;
  sti();
  while (!(ok = done(arg)) && rdtsc() < deadline) cpu_relax();
  cli();
  return ok;
}

static bool ack_reached(void *want) { return *ack >= *(uint32_t *)want; }

/* One sample of `op`; BENCH_LOST when its wait timed out. */
static uint32_t sample(enum bench_op op, uint32_t i) {
  uint64_t t0 = rdtsc();
  switch (op) {
    case BENCH_OP_PIO_EXIT:
      outl(BENCH_PORT_EXIT, i);
      return ticks(t0, rdtsc());
    case BENCH_OP_MMIO_EXIT:
      mmio_write32(BENCH_MMIO_EXIT, i);
      return ticks(t0, rdtsc());
    case BENCH_OP_NOTIFY_WRITE:
      outl(BENCH_PORT_NOTIFY, i);
      return ticks(t0, rdtsc());
    case BENCH_OP_NOTIFY_ACK: {
      uint32_t want = *ack + 1;
      outl(BENCH_PORT_NOTIFY, i);
      return spin_until(ack_reached, &want) ? ticks(t0, rdtsc()) : BENCH_LOST;
    }
    case BENCH_OP_IRQ_HLT:
    case BENCH_OP_IRQ_SPIN: {
      uint32_t before = irq_count;
      t0 = rdtsc();
      outl(BENCH_PORT_NOTIFY, i);
      bool ok = op == BENCH_OP_IRQ_HLT ? wait_until(irq_after, &before, WAIT_MS)
                                       : spin_until(irq_after, &before);
      cli();
      return ok ? ticks(t0, irq_tsc) : BENCH_LOST;
    }
    default:
      return BENCH_LOST;
  }
}

int guest_main(void) {
  timers_init();
  set_handler(BENCH_IRQ_VECTOR, on_irq);
  ioapic_route(BENCH_IRQ_PIN, BENCH_IRQ_VECTOR, lapic_id(), false, false);
  outl(BENCH_PORT_HELLO, (uint32_t)tsc_per_us);
  /* The PIT calibration can be spoiled by a descheduled vCPU; the host's
   * (measured over 50 ms) keeps the waits' timeouts right. */
  uint32_t host_tsc_per_us = inl(BENCH_PORT_HELLO);
  if (host_tsc_per_us != 0) tsc_per_us = host_tsc_per_us;
  for (;;) {
    enum bench_op op = (enum bench_op)inl(BENCH_PORT_CMD);
    uint32_t n = inl(BENCH_PORT_CMD);
    if (op == BENCH_OP_QUIT) return 0;
    if (n > BENCH_MAX_SAMPLES) n = BENCH_MAX_SAMPLES;
    memset(&wait_stats, 0, sizeof(wait_stats));
    uint32_t lost = 0;
    for (uint32_t i = 0; i < n; i++) {
      samples[i] = sample(op, i);
      if (samples[i] == BENCH_LOST) lost++;
    }
    result->samples = n;
    result->lost = lost;
    result->timer_wakeups = wait_stats.timer_wakeups;
    result->rescued = wait_stats.rescued;
    outl(BENCH_PORT_DONE, n);
  }
}
