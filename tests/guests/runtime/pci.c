/* SPDX-License-Identifier: Apache-2.0 */
/* PCI configuration access for the tiny guests: mechanism #1 and ECAM. */
#include "guest.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

static uint32_t cf8_address(uint8_t dev, uint8_t fn, uint16_t reg) {
  return 0x80000000u | ((uint32_t)(dev & 0x1f) << 11) |
         ((uint32_t)(fn & 7) << 8) | (reg & 0xfc);
}

static uint64_t ecam_address(uint8_t dev, uint8_t fn, uint16_t reg) {
  return PCI_ECAM_BASE | ((uint64_t)(dev & 0x1f) << 15) |
         ((uint64_t)(fn & 7) << 12) | (reg & 0xfff);
}

uint32_t pci_read(enum pci_mech mech, uint8_t dev, uint8_t fn, uint16_t reg,
                  int size) {
  if (mech == PCI_CF8) {
    outl(PCI_CONFIG_ADDRESS, cf8_address(dev, fn, reg));
    uint16_t port = PCI_CONFIG_DATA + (reg & 3);
    if (size == 1) return inb(port);
    if (size == 2) return inw(port);
    return inl(port);
  }
  uint64_t a = ecam_address(dev, fn, reg);
  if (size == 1) return mmio_read8(a);
  if (size == 2) return mmio_read16(a);
  return mmio_read32(a);
}

void pci_write(enum pci_mech mech, uint8_t dev, uint8_t fn, uint16_t reg,
               int size, uint32_t value) {
  if (mech == PCI_CF8) {
    outl(PCI_CONFIG_ADDRESS, cf8_address(dev, fn, reg));
    uint16_t port = PCI_CONFIG_DATA + (reg & 3);
    if (size == 1) outb(port, (uint8_t)value);
    else if (size == 2) outw(port, (uint16_t)value);
    else outl(port, value);
    return;
  }
  uint64_t a = ecam_address(dev, fn, reg);
  if (size == 1) mmio_write8(a, (uint8_t)value);
  else if (size == 2) mmio_write16(a, (uint16_t)value);
  else mmio_write32(a, value);
}

uint32_t pci_read32(uint8_t dev, uint16_t reg) {
  return pci_read(PCI_ECAM, dev, 0, reg, 4);
}
uint16_t pci_read16(uint8_t dev, uint16_t reg) {
  return (uint16_t)pci_read(PCI_ECAM, dev, 0, reg, 2);
}
uint8_t pci_read8(uint8_t dev, uint16_t reg) {
  return (uint8_t)pci_read(PCI_ECAM, dev, 0, reg, 1);
}
void pci_write32(uint8_t dev, uint16_t reg, uint32_t value) {
  pci_write(PCI_ECAM, dev, 0, reg, 4, value);
}
void pci_write16(uint8_t dev, uint16_t reg, uint16_t value) {
  pci_write(PCI_ECAM, dev, 0, reg, 2, value);
}

int pci_find(uint16_t vendor, uint16_t device) {
  uint32_t want = ((uint32_t)device << 16) | vendor;
  for (int dev = 0; dev < 32; dev++) {
    if (pci_read32((uint8_t)dev, 0) == want) return dev;
  }
  return -1;
}

uint8_t pci_find_cap(uint8_t dev, uint8_t id) {
  if (!(pci_read16(dev, 0x06) & (1 << 4))) return 0;  /* Status.CAP_LIST */
  uint8_t at = pci_read8(dev, 0x34) & 0xfc;
  for (int guard = 0; at && guard < 48; guard++) {
    if (pci_read8(dev, at) == id) return at;
    at = pci_read8(dev, at + 1) & 0xfc;
  }
  return 0;
}

uint8_t pci_msi_set(uint8_t dev, uint8_t vector) {
  uint8_t cap = pci_find_cap(dev, 0x05);
  if (!cap) return 0;
  uint16_t control = pci_read16(dev, cap + 2);
  if (vector == 0) {
    pci_write16(dev, cap + 2, control & ~1);
    return cap;
  }
  bool is64 = control & (1 << 7);
  pci_write32(dev, cap + 4, 0xfee00000u | (lapic_id() << 12));
  if (is64) pci_write32(dev, cap + 8, 0);
  pci_write16(dev, cap + (is64 ? 12 : 8), vector);
  pci_write16(dev, cap + 2, control | 1);
  return cap;
}

uint64_t pci_bar_address(uint8_t dev, int index) {
  uint32_t lo = pci_read32(dev, (uint16_t)(0x10 + 4 * index));
  if (lo & 1) return lo & ~3u;
  uint64_t a = lo & ~0xfu;
  if (((lo >> 1) & 3) == 2) {
    a |= (uint64_t)pci_read32(dev, (uint16_t)(0x14 + 4 * index)) << 32;
  }
  return a;
}

void pci_set_bar(uint8_t dev, int index, uint64_t address) {
  uint32_t lo = pci_read32(dev, (uint16_t)(0x10 + 4 * index));
  pci_write32(dev, (uint16_t)(0x10 + 4 * index), (uint32_t)address);
  if (!(lo & 1) && ((lo >> 1) & 3) == 2) {
    pci_write32(dev, (uint16_t)(0x14 + 4 * index), (uint32_t)(address >> 32));
  }
}

/* The VMM's PDPT (memory/layout.h kPdptAddr); the guest runs on its tables. */
#define BOOT_PDPT 0xa000ull
#define PTE_P 1ull
#define PTE_W 2ull
#define PTE_PWT 8ull
#define PTE_PCD 16ull
#define PTE_PS 128ull
static uint64_t pd_5th_gib[512] __attribute__((aligned(4096)));

void map_5th_gib(void) {
  for (uint64_t j = 0; j < 512; j++) {
    pd_5th_gib[j] = ((4ull << 30) + (j << 21)) | PTE_P | PTE_W | PTE_PWT |
                    PTE_PCD | PTE_PS;
  }
  volatile uint64_t *pdpt = (volatile uint64_t *)BOOT_PDPT;
  pdpt[4] = (uint64_t)pd_5th_gib | PTE_P | PTE_W;
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}
