/* SPDX-License-Identifier: Apache-2.0 */
/* Triple-faults on purpose: with an empty IDT, #UD cannot be delivered
 * (#GP), nor can that (#DF), and the CPU shuts down (SDM Vol. 3A 6.15,
 * "Interrupt 8"). The VMM must end the run with an error, not hang. */
#include "guest.h"

int guest_main(void) {
  print("triple_fault: loading an empty IDT and executing ud2\n");
  struct {
    uint16_t limit;
    uint64_t base;
  } __attribute__((packed)) empty = {0, 0};
  cli();
  __asm__ volatile("lidt %0; ud2" : : "m"(empty));
  print("FAIL triple_fault: still running after ud2 with an empty IDT\n");
  return 1;
}
