/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the boot timer's init marker (devices/boot_timer.h) and then
 * another one, as a Linux init would, and powers off. It writes them in the
 * middle of a console line: microvm's boot timer lines must not split it
 * (tests/vm/cli_test.cc, MessagesDoNotSplitTheGuestsConsoleLines). */
#include "guest.h"

#define BOOT_TIMER 0xf0000000ull

int guest_main(void) {
  print("boot_marker: writing marker 123");
  mmio_write8(BOOT_TIMER, 123);
  print(" and marker 42");
  mmio_write32(BOOT_TIMER + 0x10, 42); /* any offset and size: first byte */
  print(" in this line\n");
  print("boot_marker: wrote 123 and 42\n");
  return 0;
}
