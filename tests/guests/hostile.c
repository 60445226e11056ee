/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the hostile guests (hostile_*.c); see runtime/guest.h. */
#include "guest.h"

uint64_t ecam_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t reg) {
  return PCI_ECAM_BASE | ((uint64_t)bus << 20) | ((uint64_t)(dev & 0x1f) << 15) |
         ((uint64_t)(fn & 7) << 12) | (reg & 0xfff);
}

uint32_t cf8_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t reg) {
  return 0x80000000u | ((uint32_t)bus << 16) | ((uint32_t)(dev & 0x1f) << 11) |
         ((uint32_t)(fn & 7) << 8) | reg;
}

uint64_t mmio_access(uint64_t addr, int size, bool write, uint64_t value) {
  switch (size) {
    case 1:
      if (write) mmio_write8(addr, (uint8_t)value); else return mmio_read8(addr);
      break;
    case 2:
      if (write) mmio_write16(addr, (uint16_t)value); else return mmio_read16(addr);
      break;
    case 4:
      if (write) mmio_write32(addr, (uint32_t)value); else return mmio_read32(addr);
      break;
    default:
      if (write) mmio_write64(addr, value); else return mmio_read64(addr);
      break;
  }
  return 0;
}

uint32_t pio_access(uint16_t port, int size, bool write, uint32_t value) {
  switch (size) {
    case 1:
      if (write) outb(port, (uint8_t)value); else return inb(port);
      break;
    case 2:
      if (write) outw(port, (uint16_t)value); else return inw(port);
      break;
    default:
      if (write) outl(port, value); else return inl(port);
      break;
  }
  return 0;
}

/* 256 KiB in .bss, and the first words of page 0 (the real-mode IVT, which
 * nothing here uses), where the hostile guests put BARs. */
#define CANARY_BYTES (256u << 10)
#define CANARY_SEED 0x5eed5eed5eed5eedull
#define LOW_CANARY 0x100ull
static uint64_t canary[CANARY_BYTES / 8] __attribute__((aligned(4096)));

void canary_fill(void) {
  uint64_t rng = CANARY_SEED;
  for (uint32_t i = 0; i < CANARY_BYTES / 8; i++) canary[i] = xorshift64(&rng);
  mmio_write64(LOW_CANARY, xorshift64(&rng));
  mmio_write64(LOW_CANARY + 8, xorshift64(&rng));
}

bool canary_ok(const char *when) {
  uint64_t rng = CANARY_SEED;
  for (uint32_t i = 0; i < CANARY_BYTES / 8; i++) {
    uint64_t want = xorshift64(&rng);
    if (canary[i] != want) {
      check_fail("RAM canary %s: word %u at %p is 0x%lx, want 0x%lx", when, i,
                 (void *)&canary[i], canary[i], want);
      return false;
    }
  }
  for (uint64_t a = LOW_CANARY; a < LOW_CANARY + 16; a += 8) {
    uint64_t want = xorshift64(&rng);
    uint64_t got = mmio_read64(a);
    if (got != want) {
      check_fail("low RAM %s: 0x%lx is 0x%lx, want 0x%lx", when, a, got, want);
      return false;
    }
  }
  return true;
}

/* The canary's address, for the guests that put BARs over it. */
uint64_t canary_address(void) { return (uint64_t)canary; }
