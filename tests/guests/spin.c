/* SPDX-License-Identifier: Apache-2.0 */
/* Runs until the VMM stops it: prints one line, then spins with interrupts
 * off. For the tests of Vm::Stop() and signals (tests/vm/teardown_test.cc),
 * which wait for the line before they stop the VM. */
#include "guest.h"

int guest_main(void) {
  print("spin: running until stopped\n");
  cli();
  for (;;) cpu_relax();
}
