/* SPDX-License-Identifier: Apache-2.0 */
/* PIT channel 0 interrupts through the IOAPIC.
 *
 * ISA IRQ 0 reaches the IOAPIC on the pin the MP table's interrupt source
 * override names (2 on PCs). The guest routes that pin, runs the PIT at
 * 1 kHz (mode 2), counts TICKS interrupts and prints
 *   ioapic_pit: pin=P ticks=N elapsed_us=E
 *   waits=... lost=L
 *   PASS ioapic_pit | FAIL ioapic_pit: <why> */
#include "guest.h"

#define VECTOR_PIT 0x30
#define TICKS 50
#define HZ 1000

static volatile uint32_t ticks;

static void on_pit(struct isr_frame *f) {
  (void)f;
  ticks++;
  lapic_eoi();
}

static bool enough_ticks(void *arg) {
  (void)arg;
  return ticks >= TICKS;
}

int guest_main(void) {
  struct mp_info mp;
  const char *err = mp_parse(&mp);
  if (err) {
    print("FAIL ioapic_pit: MP table: %s\n", err);
    return 1;
  }
  int pin = mp.isa_irq_pin[0];
  if (pin < 0) {
    print("FAIL ioapic_pit: MP table has no entry for ISA IRQ 0 (PIT)\n");
    return 1;
  }
  uint16_t flags = mp.isa_irq_flags[0];
  bool active_low = (flags & 3) == 3;          /* MP 1.4 table 4-10 */
  bool level = ((flags >> 2) & 3) == 3;
  timers_init();
  set_handler(VECTOR_PIT, on_pit);
  ioapic_route((uint32_t)pin, VECTOR_PIT, lapic_id(), level, active_low);

  uint64_t start = now_us();
  pit_periodic(HZ);
  bool ok = wait_until(enough_ticks, NULL, 10000);
  uint64_t elapsed = now_us() - start;
  pit_stop();
  ioapic_mask((uint32_t)pin);

  print("ioapic_pit: pin=%d ticks=%u elapsed_us=%lu\n", pin, ticks, elapsed);
  print_wait_stats();
  if (!ok) {
    print("FAIL ioapic_pit: %u of %u PIT interrupts arrived within 10 s\n",
          ticks, TICKS);
    return 1;
  }
  /* Ticks are 1 ms apart; far faster means the PIT ignored the divisor. */
  if (elapsed < (uint64_t)TICKS * 1000000 / HZ / 4) {
    print("FAIL ioapic_pit: %u ticks at %u Hz took only %lu us\n", TICKS, HZ,
          elapsed);
    return 1;
  }
  print("PASS ioapic_pit\n");
  return 0;
}
