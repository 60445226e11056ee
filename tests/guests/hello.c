/* SPDX-License-Identifier: Apache-2.0 */
/* The smallest guest: one line on the serial console, then power off. */
#include "guest.h"

int guest_main(void) {
  print("Hello from a microvm guest\n");
  return 0;
}
