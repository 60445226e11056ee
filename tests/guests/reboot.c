/* SPDX-License-Identifier: Apache-2.0 */
/* Reboots in place (microvm --on_reboot=restart) until boot REBOOT_BOOTS.
 *
 * The boot count lives in guest RAM at COUNTER_GPA, which a reboot keeps
 * (microvm rewrites only low memory and the kernel image); the first boot
 * finds it zero. Each boot, with a PCI test device (1234:7e57) on bus 0:
 *  - the device must come up as after power-on: MSI off, bus mastering off
 *    (a reset that kept the last boot's state fails here);
 *  - MSI is enabled for one vector and the device fires it: it must arrive
 *    (the boot's KVM route and irqfd work);
 * then it prints "reboot: boot N ready" and waits for a byte on COM1 (the
 * test looks at microvm's fds, threads and mappings meanwhile), then resets
 * through the i8042; at boot REBOOT_BOOTS it prints PASS and powers off. */
#include "guest.h"

#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x7e57
#define REG_MSI_FIRE 0x14
#define VECTOR_MSI 0x40

#define COUNTER_GPA 0xf00000ull   /* 15 MiB: above the image, below 16 MiB */
#define COUNTER_MAGIC 0x7265626f6f74ull  /* "reboot" */
#define REBOOT_BOOTS 20

#define COM1 0x3f8
#define UART_LSR 5
#define LSR_DR 0x01

struct counter {
  uint64_t magic;
  uint64_t boots;
};

static void on_msi(struct isr_frame *f) {
  irq_hits[f->vector]++;
  lapic_eoi();
}

static void check_device(uint8_t dev) {
  uint8_t cap = pci_find_cap(dev, 0x05);
  if (!cap) {
    check_fail("no MSI capability");
    return;
  }
  CHECK_EQ("MSI control at boot (enable bit)", pci_read16(dev, cap + 2) & 1, 0);
  CHECK_EQ("command at boot (bus master bit)", pci_read16(dev, 0x04) & 4, 0);
  uint64_t regs = pci_bar_address(dev, 0);
  if (regs == 0) {
    check_fail("BAR0 not assigned");
    return;
  }
  set_handler(VECTOR_MSI, on_msi);
  pci_write16(dev, 0x04, (uint16_t)(pci_read16(dev, 0x04) | 4));
  pci_write32(dev, cap + 4, 0xfee00000u | (lapic_id() << 12));
  pci_write32(dev, cap + 8, 0);
  pci_write16(dev, cap + 12, VECTOR_MSI);
  pci_write16(dev, cap + 2, 1);
  mmio_write32(regs + REG_MSI_FIRE, 0);
  if (!wait_for_irq(VECTOR_MSI, 1)) check_fail("MSI did not arrive");
}

int guest_main(void) {
  check_begin("reboot");
  volatile struct counter *c = (volatile struct counter *)COUNTER_GPA;
  if (c->magic != COUNTER_MAGIC) {
    c->magic = COUNTER_MAGIC;
    c->boots = 0;
  }
  uint64_t boot = ++c->boots;
  int found = pci_find(TEST_VENDOR, TEST_DEVICE);
  if (found < 0) {
    print("FAIL reboot: no test device (1234:7e57) on bus 0\n");
    return 1;
  }
  timers_init();
  sti();
  check_device((uint8_t)found);
  cli();
  if (check_failures()) {
    print("FAIL reboot: at boot %lu\n", boot);
    return 1;
  }
  print("reboot: boot %lu ready\n", boot);
  while (!(inb(COM1 + UART_LSR) & LSR_DR)) cpu_relax();
  (void)inb(COM1);
  if (boot < REBOOT_BOOTS) reset_vm();
  print("PASS reboot: %d boots\n", REBOOT_BOOTS);
  return 0;
}
