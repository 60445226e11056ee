/* SPDX-License-Identifier: Apache-2.0 */
/* LAPIC timer: periodic mode delivers a stream of interrupts, one-shot mode
 * exactly one. Prints
 *   lapic_timer: periodic ticks=N elapsed_us=E lapic_per_us=F
 *   lapic_timer: oneshot ticks=1
 *   PASS lapic_timer | FAIL lapic_timer: <why>
 * The periodic timer is its own rescue: HLT is always ended by the next
 * tick, and the loop is bounded by the TSC clock. */
#include "guest.h"

#define VECTOR_TIMER 0x40
#define TICKS 25
#define PERIOD_US 2000

static volatile uint32_t ticks;

static void on_timer(struct isr_frame *f) {
  (void)f;
  ticks++;
  lapic_eoi();
}

int guest_main(void) {
  timers_init();
  set_handler(VECTOR_TIMER, on_timer);

  uint64_t start = now_us();
  uint64_t deadline = start + 10000000;
  lapic_timer_periodic(VECTOR_TIMER, PERIOD_US);
  while (ticks < TICKS && now_us() < deadline) {
    sti_hlt();
    cli();
  }
  lapic_timer_stop();
  uint64_t elapsed = now_us() - start;
  uint32_t periodic = ticks;
  print("lapic_timer: periodic ticks=%u elapsed_us=%lu lapic_per_us=%lu\n",
        periodic, elapsed, lapic_per_us);
  if (periodic < TICKS) {
    print("FAIL lapic_timer: %u of %u periodic interrupts within 10 s\n",
          periodic, TICKS);
    return 1;
  }
  if (elapsed < (uint64_t)TICKS * PERIOD_US / 4) {
    print("FAIL lapic_timer: %u ticks of %u us took only %lu us\n", TICKS,
          PERIOD_US, elapsed);
    return 1;
  }

  /* One-shot: one interrupt, then silence for ten more periods. Spin with
   * interrupts on rather than halt, so nothing here depends on a wake-up. */
  ticks = 0;
  lapic_timer_oneshot(VECTOR_TIMER, PERIOD_US);
  sti();
  deadline = now_us() + 5000000;
  while (ticks == 0 && now_us() < deadline) cpu_relax();
  udelay(10 * PERIOD_US);
  cli();
  uint32_t oneshot = ticks;
  lapic_timer_stop();
  print("lapic_timer: oneshot ticks=%u\n", oneshot);
  if (oneshot != 1) {
    print("FAIL lapic_timer: one-shot timer fired %u times, want 1\n", oneshot);
    return 1;
  }
  print("PASS lapic_timer\n");
  return 0;
}
