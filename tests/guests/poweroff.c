/* SPDX-License-Identifier: Apache-2.0 */
/* Powers the VM off through the ACPI sleep control register (the runtime
 * does it when guest_main returns; this guest does it explicitly). */
#include "guest.h"

int guest_main(void) {
  print("poweroff: writing S5 to port 0x3c0\n");
  power_off();
}
