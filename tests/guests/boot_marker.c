/* SPDX-License-Identifier: Apache-2.0 */
/* Writes the boot timer's init marker (devices/boot_timer.h) and then
 * another one, as a Linux init would, and powers off. */
#include "guest.h"

#define BOOT_TIMER 0xf0000000ull

int guest_main(void) {
  mmio_write8(BOOT_TIMER, 123);
  mmio_write32(BOOT_TIMER + 0x10, 42); /* any offset and size: first byte */
  print("boot_marker: wrote 123 and 42\n");
  return 0;
}
