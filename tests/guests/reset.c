/* SPDX-License-Identifier: Apache-2.0 */
/* Resets the VM through the i8042 (0xfe to port 0x64). */
#include "guest.h"

int guest_main(void) {
  print("reset: writing 0xfe to port 0x64\n");
  reset_vm();
}
