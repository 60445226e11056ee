/* SPDX-License-Identifier: Apache-2.0 */
/* Port I/O and MMIO with every access size, against a test device.
 *
 * Protocol with //tests/vm:vm_test (PatternDevice there):
 *  - a device on PIO [0x500, 0x508) and one on MMIO [0xd0000000, 0xd0000010);
 *  - a read of `size` bytes at `offset` returns bytes
 *    (0x10 * size + offset + i) & 0xff for i = 0..size-1 (so each size and
 *    offset gives a different value);
 *  - the device records every access; the test checks the writes below, in
 *    this order, with these values;
 *  - PIO 0x508-0x50f and MMIO 0xd0000010-0xd0000fff stay unregistered: reads
 *    there, and an access straddling the end of a device, return all-ones;
 *    writes there are dropped.
 * Prints "PASS pio_mmio" or one "FAIL pio_mmio: ..." line per mismatch. */
#include "guest.h"

#define PIO_BASE 0x500
#define MMIO_BASE 0xd0000000ull

static int failures;

static uint64_t pattern(unsigned offset, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++) {
    v |= (uint64_t)((0x10 * size + offset + i) & 0xff) << (8 * i);
  }
  return v;
}

static void check(const char *what, uint64_t addr, uint64_t got,
                  uint64_t want) {
  if (got != want) {
    failures++;
    print("FAIL pio_mmio: %s at %lx: got %lx, want %lx\n", what, addr, got,
          want);
  }
}

int guest_main(void) {
  /* Writes, one per size, in the order the test expects. */
  outb(PIO_BASE + 0, 0x5a);
  outw(PIO_BASE + 2, 0x1234);
  outl(PIO_BASE + 4, 0xdeadbeef);
  mmio_write8(MMIO_BASE + 0, 0xa5);
  mmio_write16(MMIO_BASE + 2, 0xbeef);
  mmio_write32(MMIO_BASE + 4, 0xcafef00d);
  mmio_write64(MMIO_BASE + 8, 0x0123456789abcdefull);

  /* Reads of every size from the devices. */
  check("inb", PIO_BASE + 0, inb(PIO_BASE + 0), pattern(0, 1));
  check("inb", PIO_BASE + 7, inb(PIO_BASE + 7), pattern(7, 1));
  check("inw", PIO_BASE + 2, inw(PIO_BASE + 2), pattern(2, 2));
  check("inl", PIO_BASE + 4, inl(PIO_BASE + 4), pattern(4, 4));
  check("mmio read8", MMIO_BASE + 0, mmio_read8(MMIO_BASE + 0), pattern(0, 1));
  check("mmio read8", MMIO_BASE + 15, mmio_read8(MMIO_BASE + 15),
        pattern(15, 1));
  check("mmio read16", MMIO_BASE + 2, mmio_read16(MMIO_BASE + 2),
        pattern(2, 2));
  check("mmio read32", MMIO_BASE + 4, mmio_read32(MMIO_BASE + 4),
        pattern(4, 4));
  check("mmio read64", MMIO_BASE + 8, mmio_read64(MMIO_BASE + 8),
        pattern(8, 8));

  /* Nothing registered: all-ones, writes dropped. */
  outl(PIO_BASE + 0xc, 0x11111111);
  mmio_write32(MMIO_BASE + 0x800, 0x22222222);
  check("unregistered inb", PIO_BASE + 8, inb(PIO_BASE + 8), 0xff);
  check("unregistered inw", PIO_BASE + 0xa, inw(PIO_BASE + 0xa), 0xffff);
  check("unregistered inl", PIO_BASE + 0xc, inl(PIO_BASE + 0xc), 0xffffffff);
  check("straddling inw", PIO_BASE + 7, inw(PIO_BASE + 7), 0xffff);
  check("unregistered mmio read8", MMIO_BASE + 0x10,
        mmio_read8(MMIO_BASE + 0x10), 0xff);
  check("unregistered mmio read32", MMIO_BASE + 0x800,
        mmio_read32(MMIO_BASE + 0x800), 0xffffffff);
  check("unregistered mmio read64", MMIO_BASE + 0xff8,
        mmio_read64(MMIO_BASE + 0xff8), ~0ull);
  check("straddling mmio read32", MMIO_BASE + 0xe,
        mmio_read32(MMIO_BASE + 0xe), 0xffffffff);

  if (failures) {
    print("FAIL pio_mmio: %d mismatches\n", failures);
  } else {
    print("PASS pio_mmio\n");
  }
  return failures;
}
