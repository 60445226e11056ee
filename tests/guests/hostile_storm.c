/* SPDX-License-Identifier: Apache-2.0 */
/* PIO and MMIO storm: a PRNG picks an access (read or write, 1/2/4 bytes
 * for ports, 1/2/4/8 for memory, a garbage value) and a random port
 * (0..0xffff) or a random address in one of the holes of the guest-physical
 * map; many thousands of them, string I/O (rep outs/ins) included.
 *
 * Ports never written (they may be read):
 *  - 0x3c0, ACPI sleep control: S5 powers the VM off (the guest's own
 *    clean exit; the test asserts the VM ended by power-off *after* the
 *    marker);
 *  - 0x60-0x64, the i8042: 0xfe to 0x64, or 0xd1 then an even value to
 *    0x60, resets the VM (a legitimate guest-requested reset).
 * Memory never touched (they are not holes):
 *  - guest RAM, the IOAPIC (0xfec00000) and LAPIC (0xfee00000) pages:
 *    in-kernel devices whose writes can send INIT, SMI or NMI to the guest's
 *    own vCPU or disable its APIC, which stops the guest, not the VMM;
 *  - 0xfeffc000-0xfeffffff: KVM's identity-map and TSS pages
 *    (KVM_SET_IDENTITY_MAP_ADDR / KVM_SET_TSS_ADDR), KVM-private memory.
 * Holes stormed: RAM end (64 MiB) to the PCI window, the 32-bit PCI window
 * (the test device's BARs), ECAM, 0xf0000000 to the IOAPIC, between the
 * IOAPIC and LAPIC, above the LAPIC, the last 16 MiB below 4 GiB and
 * [4 GiB, 5 GiB) (the 64-bit PCI window).
 *
 * Afterwards the guest re-initialises COM1 (the storm rewrote its LCR, MCR
 * and IER), turns the test device's decode off through ECAM (the storm
 * moved its BARs at random), and checks that the VMM still answers: the
 * host bridge and test device IDs, its RAM canary.
 * Prints "hostile_storm: ..." lines and PASS/FAIL lines. */
#include "guest.h"

#define GUEST_RAM (64ull << 20)
#define PIO_ACCESSES 60000
#define MMIO_ACCESSES 60000

struct hole {
  uint64_t start, end;  /* [start, end) */
};

static const struct hole holes[] = {
    {GUEST_RAM, 0xc0000000ull},
    {0xc0000000ull, 0xe0000000ull},
    {0xe0000000ull, 0xf0000000ull},
    {0xf0000000ull, 0xfec00000ull},
    {0xfec01000ull, 0xfee00000ull},
    {0xfee01000ull, 0xfeffc000ull},
    {0xff000000ull, 0x100000000ull},
    {0x100000000ull, 0x140000000ull},
};

static uint64_t rng = 0x57042d5eedull;

static bool write_allowed(uint16_t port, int size) {
  uint32_t last = (uint32_t)port + (uint32_t)size - 1;
  if (port <= 0x3c0 && last >= 0x3c0) return false;
  if (port <= 0x64 && last >= 0x60) return false;
  return true;
}

static void pio_storm(void) {
  static const int sizes[] = {1, 2, 4};
  uint8_t buf[16];
  for (int i = 0; i < PIO_ACCESSES; i++) {
    uint64_t r = xorshift64(&rng);
    uint16_t port = (uint16_t)r;
    int size = sizes[(r >> 16) % 3];
    bool write = (r >> 20) & 1;
    if (write && !write_allowed(port, size)) write = false;
    if (((r >> 21) & 63) == 0) {
      /* String I/O: 4 elements, in or out. */
      for (unsigned k = 0; k < sizeof(buf); k++) buf[k] = (uint8_t)(r >> (k % 8));
      void *p = buf;
      uint64_t n = 16 / (uint64_t)size;
      if (write && write_allowed(port, size)) {
        if (size == 1) __asm__ volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(port) : "memory");
        else if (size == 2) __asm__ volatile("rep outsw" : "+S"(p), "+c"(n) : "d"(port) : "memory");
        else __asm__ volatile("rep outsl" : "+S"(p), "+c"(n) : "d"(port) : "memory");
      } else {
        if (size == 1) __asm__ volatile("rep insb" : "+D"(p), "+c"(n) : "d"(port) : "memory");
        else if (size == 2) __asm__ volatile("rep insw" : "+D"(p), "+c"(n) : "d"(port) : "memory");
        else __asm__ volatile("rep insl" : "+D"(p), "+c"(n) : "d"(port) : "memory");
      }
      continue;
    }
    (void)pio_access(port, size, write, (uint32_t)(r >> 32));
  }
}

static void mmio_storm(void) {
  static const int sizes[] = {1, 2, 4, 8};
  const unsigned n_holes = sizeof(holes) / sizeof(holes[0]);
  for (int i = 0; i < MMIO_ACCESSES; i++) {
    uint64_t r = xorshift64(&rng);
    const struct hole *h = &holes[r % n_holes];
    int size = sizes[(r >> 8) % 4];
    uint64_t span = h->end - h->start - 8;
    uint64_t a = h->start + (xorshift64(&rng) % span);
    /* Half the accesses unaligned, half naturally aligned. */
    if ((r >> 10) & 1) a &= ~(uint64_t)(size - 1);
    (void)mmio_access(a, size, (r >> 11) & 1, xorshift64(&rng));
  }
}

int guest_main(void) {
  check_begin("hostile_storm");
  canary_fill();
  int dev = pci_find(0x1234, 0x7e57);
  if (dev < 0) {
    print("FAIL hostile_storm: no test device (1234:7e57) on bus 0\n");
    return 1;
  }
  map_5th_gib();
  print("hostile_storm: %d port accesses\n", PIO_ACCESSES);
  pio_storm();
  serial_init();
  print("hostile_storm: port storm done; %d memory accesses\n", MMIO_ACCESSES);
  mmio_storm();
  serial_init();
  mmio_write16(PCI_ECAM_BASE | ((uint64_t)dev << 15) | 4, 0);
  print("hostile_storm: memory storm done\n");

  CHECK_EQ("host bridge ID after the storm", pci_read32(0, 0), 0x00081b36u);
  CHECK_EQ("test device ID after the storm", pci_read32((uint8_t)dev, 0),
           0x7e571234u);
  canary_ok("after the storm");
  if (check_failures()) return 1;
  print("PASS hostile_storm\n");
  return 0;
}
