/* SPDX-License-Identifier: Apache-2.0 */
/* Failure bookkeeping shared by the guests: "FAIL <test>: ..." lines and a
 * count the guest turns into its final PASS/FAIL line. */
#include "guest.h"

static const char *check_name = "guest";
static int check_count;

void check_begin(const char *name) {
  check_name = name;
  check_count = 0;
}

void check_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  print("FAIL %s: ", check_name);
  vprint(fmt, ap);
  print("\n");
  va_end(ap);
  check_count++;
}

int check_failures(void) { return check_count; }

volatile uint32_t irq_hits[256];

struct irq_want {
  uint8_t vector;
  uint32_t count;
};

static bool irq_arrived(void *arg) {
  struct irq_want *w = arg;
  return irq_hits[w->vector] >= w->count;
}

bool wait_for_irq(uint8_t vector, uint32_t count) {
  struct irq_want w = {vector, count};
  return wait_until(irq_arrived, &w, 3000);
}
