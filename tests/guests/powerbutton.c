/* SPDX-License-Identifier: Apache-2.0 */
/* The ACPI power button as a guest without an ACPI interpreter sees it:
 * microvm's DSDT gives the button's Generic Event Device GSI 5
 * (devices/power.h PowerButton::kGsi), edge-triggered, active high, and
 * SIGTERM to microvm makes one edge there. The guest routes that IOAPIC pin,
 * prints "powerbutton: waiting for the power button", waits (up to 60 s,
 * with the runtime's rescue timer) for the interrupt, then prints how many
 * presses it saw and powers off, as a guest's acpid would.
 *   PASS powerbutton | FAIL powerbutton: <why> */
#include "guest.h"

#define VECTOR_BUTTON 0x40
#define BUTTON_GSI 5

static volatile uint32_t presses;

static void on_button(struct isr_frame *f) {
  (void)f;
  presses++;
  lapic_eoi();
}

static bool pressed(void *arg) {
  (void)arg;
  return presses > 0;
}

int guest_main(void) {
  timers_init();
  set_handler(VECTOR_BUTTON, on_button);
  ioapic_route(BUTTON_GSI, VECTOR_BUTTON, lapic_id(), /*level=*/false,
               /*active_low=*/false);
  print("powerbutton: waiting for the power button\n");
  if (!wait_until(pressed, NULL, 60000)) {
    print("FAIL powerbutton: no power button interrupt within 60 s\n");
    return 1;
  }
  /* A second press would be a second edge: wait a little to see none. */
  udelay(100000);
  cli();
  ioapic_mask(BUTTON_GSI);
  print("powerbutton: pressed %u time(s); powering off\n", presses);
  print_wait_stats();
  print("PASS powerbutton\n");
  return 0;
}
