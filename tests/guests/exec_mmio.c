/* SPDX-License-Identifier: Apache-2.0 */
/* Jumps to an address with no RAM behind it (an MMIO hole): KVM cannot fetch
 * instructions from there and reports an internal (emulation) error, which
 * the VMM must turn into a failed run, not a hang or a crash. */
#include "guest.h"

int guest_main(void) {
  print("exec_mmio: jumping into the MMIO hole at 0xd0000000\n");
  __asm__ volatile("jmp *%0" : : "r"(0xd0000000ull));
  print("FAIL exec_mmio: still running after the jump\n");
  return 1;
}
