/* SPDX-License-Identifier: Apache-2.0 */
/* BAR programming and decode against the PCI test device
 * (devices/pci_test_device.h).
 *
 * The guest re-places every BAR itself at fixed addresses, then checks:
 *  - registers through the memory BAR (BAR0) and the I/O BAR (BAR1): magic,
 *    scratch written through one and read through the other, doorbell;
 *  - the 64-bit prefetchable scratch RAM (BAR2) at every access size, below
 *    4 GiB and after moving it above 4 GiB (contents kept);
 *  - a moved BAR answers at its new address and no longer at the old one
 *    (all-ones), for memory and I/O;
 *  - memory / I/O decode off: the BARs stop answering; on again: back;
 *  - a BAR put over ECAM stays unmapped and ECAM keeps working;
 *  - the expansion ROM: invisible until its enable bit is set, then 55 AA,
 *    "PCIR" and the pattern over all 2 KiB.
 * Prints "pci_bars: ..." progress lines and PASS/FAIL lines. */
#include "guest.h"

#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x7e57
#define MAGIC 0x4454564du

#define REG_ID 0x00
#define REG_SCRATCH 0x08
#define REG_DOORBELL 0x24
#define REG_DOORBELL_COUNT 0x28

#define REGS_A 0xc0100000ull
#define REGS_B 0xc0400000ull
#define MSIX_ADDR 0xc0101000ull
#define SCRATCH_LOW 0xc0200000ull
#define SCRATCH_HIGH 0x100200000ull /* above 4 GiB, mapped by map_5th_gib */
#define SCRATCH_SIZE (1u << 20)
#define ROM_ADDR 0xc0300000ull
#define ROM_SIZE 2048
#define IO_A 0xd000
#define IO_B 0xd100


static void set_command(uint8_t dev, uint16_t bits) {
  uint16_t cmd = pci_read16(dev, 0x04);
  pci_write16(dev, 0x04, (uint16_t)((cmd & ~3u) | bits));
}

static void check_scratch(uint64_t base, const char *where) {
  /* A pattern at each size, at the start, the middle and the very end. */
  mmio_write64(base, 0x0123456789abcdefull);
  mmio_write32(base + 0x80000, 0xcafef00du);
  mmio_write16(base + SCRATCH_SIZE - 4, 0xbeef);
  mmio_write8(base + SCRATCH_SIZE - 1, 0x5a);
  CHECK_EQ(where, mmio_read64(base), 0x0123456789abcdefull);
  CHECK_EQ(where, mmio_read8(base + 3), 0x89);
  CHECK_EQ(where, mmio_read16(base + 6), 0x0123);
  CHECK_EQ(where, mmio_read32(base + 0x80000), 0xcafef00du);
  CHECK_EQ(where, mmio_read16(base + SCRATCH_SIZE - 4), 0xbeef);
  CHECK_EQ(where, mmio_read8(base + SCRATCH_SIZE - 1), 0x5a);
  for (uint32_t i = 0; i < 64; i++) {
    mmio_write32(base + 0x1000 + 4 * i, i * 0x01010101u);
  }
  for (uint32_t i = 0; i < 64; i++) {
    CHECK_EQ(where, mmio_read32(base + 0x1000 + 4 * i), i * 0x01010101u);
  }
}

static void check_rom(uint8_t dev) {
  /* Enable bit clear: nothing decodes at the address. */
  pci_write32(dev, 0x30, (uint32_t)ROM_ADDR);
  CHECK_EQ("ROM with its enable bit clear", mmio_read32(ROM_ADDR),
            0xffffffffu);
  pci_write32(dev, 0x30, (uint32_t)ROM_ADDR | 1);
  CHECK_EQ("ROM BAR read-back", pci_read32(dev, 0x30),
            (uint32_t)ROM_ADDR | 1);
  CHECK_EQ("ROM signature", mmio_read16(ROM_ADDR), 0xaa55);
  uint16_t pcir = mmio_read16(ROM_ADDR + 0x18);
  CHECK_EQ("ROM PCIR signature", mmio_read32(ROM_ADDR + pcir), 0x52494350u);
  CHECK_EQ("ROM PCIR IDs", mmio_read32(ROM_ADDR + pcir + 4),
            (TEST_DEVICE << 16) | TEST_VENDOR);
  CHECK_EQ("ROM PCIR image length (512-byte units)",
            mmio_read16(ROM_ADDR + pcir + 0x10), ROM_SIZE / 512);
  int bad = 0;
  for (uint32_t i = 0x40; i < ROM_SIZE; i++) {
    uint8_t want = (uint8_t)(i * 31 + 7);
    uint8_t got = mmio_read8(ROM_ADDR + i);
    if (got != want && bad++ < 3) {
      check_fail("ROM byte 0x%x: got 0x%x, want 0x%x", i, got, want);
    }
  }
  /* Read-only. */
  mmio_write32(ROM_ADDR + 0x40, 0);
  CHECK_EQ("ROM after a write", mmio_read8(ROM_ADDR + 0x40),
            (uint8_t)(0x40 * 31 + 7));
  /* Memory decode gates the ROM too (6.2.5.2). */
  set_command(dev, 1);
  CHECK_EQ("ROM with memory decode off", mmio_read32(ROM_ADDR), 0xffffffffu);
  set_command(dev, 3);
  pci_write32(dev, 0x30, 0);
  print("pci_bars: ROM read through its BAR\n");
}

int guest_main(void) {
  check_begin("pci_bars");
  int found = pci_find(TEST_VENDOR, TEST_DEVICE);
  if (found < 0) {
    print("FAIL pci_bars: no test device (1234:7e57) on bus 0\n");
    return 1;
  }
  uint8_t dev = (uint8_t)found;

  /* Re-place everything with decode off, as an OS would. */
  set_command(dev, 0);
  pci_set_bar(dev, 0, REGS_A);
  pci_set_bar(dev, 1, IO_A);
  pci_set_bar(dev, 2, SCRATCH_LOW);
  pci_set_bar(dev, 4, MSIX_ADDR);
  CHECK_EQ("BAR0 read-back", pci_bar_address(dev, 0), REGS_A);
  CHECK_EQ("BAR1 read-back", pci_bar_address(dev, 1), IO_A);
  CHECK_EQ("BAR2 read-back", pci_bar_address(dev, 2), SCRATCH_LOW);
  CHECK_EQ("BAR1 type bits (I/O)", pci_read32(dev, 0x14) & 3, 1);
  CHECK_EQ("BAR2 type bits (64-bit prefetchable)", pci_read32(dev, 0x18) & 0xf,
            0xc);
  CHECK_EQ("BAR0 with decode off", mmio_read32(REGS_A), 0xffffffffu);
  set_command(dev, 3);

  /* Registers through both BARs. */
  CHECK_EQ("ID through BAR0", mmio_read32(REGS_A + REG_ID), MAGIC);
  CHECK_EQ("ID through BAR1", inl(IO_A + REG_ID), MAGIC);
  mmio_write32(REGS_A + REG_SCRATCH, 0x600dcafeu);
  CHECK_EQ("scratch written by MMIO, read by PIO", inl(IO_A + REG_SCRATCH),
            0x600dcafeu);
  outl(IO_A + REG_SCRATCH, 0x12345678u);
  CHECK_EQ("scratch written by PIO, read by MMIO",
            mmio_read32(REGS_A + REG_SCRATCH), 0x12345678u);
  uint32_t rings = mmio_read32(REGS_A + REG_DOORBELL_COUNT);
  mmio_write32(REGS_A + REG_DOORBELL, 1);
  mmio_write32(REGS_A + REG_DOORBELL, 2);
  /* BAR1 is 32 bytes: DOORBELL (0x24) is beyond it. */
  outl(IO_A + REG_DOORBELL, 3);
  CHECK_EQ("doorbell value", mmio_read32(REGS_A + REG_DOORBELL), 2);
  CHECK_EQ("doorbell count", mmio_read32(REGS_A + REG_DOORBELL_COUNT),
            rings + 2);
  print("pci_bars: registers through BAR0 (MMIO) and BAR1 (I/O)\n");

  check_scratch(SCRATCH_LOW, "scratch RAM below 4 GiB");

  /* Move BAR0 and BAR1: old addresses go dark, new ones answer. */
  pci_set_bar(dev, 0, REGS_B);
  pci_set_bar(dev, 1, IO_B);
  CHECK_EQ("old BAR0 address after the move", mmio_read32(REGS_A + REG_ID),
            0xffffffffu);
  CHECK_EQ("new BAR0 address after the move", mmio_read32(REGS_B + REG_ID),
            MAGIC);
  CHECK_EQ("old BAR1 port after the move", inl(IO_A + REG_ID), 0xffffffffu);
  CHECK_EQ("new BAR1 port after the move", inl(IO_B + REG_ID), MAGIC);
  CHECK_EQ("scratch register survives the move",
            mmio_read32(REGS_B + REG_SCRATCH), 0x12345678u);
  print("pci_bars: moved BAR0 and BAR1\n");

  /* BAR2 above 4 GiB: the contents move with it. */
  map_5th_gib();
  pci_set_bar(dev, 2, SCRATCH_HIGH);
  CHECK_EQ("BAR2 read-back above 4 GiB", pci_bar_address(dev, 2),
            SCRATCH_HIGH);
  CHECK_EQ("old BAR2 address", mmio_read32(SCRATCH_LOW), 0xffffffffu);
  CHECK_EQ("scratch RAM kept across the move", mmio_read64(SCRATCH_HIGH),
            0x0123456789abcdefull);
  check_scratch(SCRATCH_HIGH, "scratch RAM above 4 GiB");
  print("pci_bars: 64-bit BAR above 4 GiB\n");

  /* Decode off and on. */
  set_command(dev, 1);  /* I/O only */
  CHECK_EQ("BAR0 with memory decode off", mmio_read32(REGS_B), 0xffffffffu);
  CHECK_EQ("BAR2 with memory decode off", mmio_read32(SCRATCH_HIGH),
            0xffffffffu);
  CHECK_EQ("BAR1 with only I/O decode on", inl(IO_B), MAGIC);
  set_command(dev, 2);  /* memory only */
  CHECK_EQ("BAR1 with I/O decode off", inl(IO_B), 0xffffffffu);
  CHECK_EQ("BAR0 with only memory decode on", mmio_read32(REGS_B), MAGIC);
  set_command(dev, 3);
  CHECK_EQ("BAR1 after decode on again", inl(IO_B), MAGIC);
  print("pci_bars: decode enables honoured\n");

  /* A BAR over ECAM (the guest's mistake) must not take config space. */
  pci_set_bar(dev, 0, PCI_ECAM_BASE);
  CHECK_EQ("ECAM with BAR0 over it", pci_read32(dev, 0),
            (TEST_DEVICE << 16) | TEST_VENDOR);
  pci_set_bar(dev, 0, REGS_A);
  CHECK_EQ("BAR0 moved back from ECAM", mmio_read32(REGS_A + REG_ID), MAGIC);

  check_rom(dev);

  if (check_failures()) return 1;
  print("PASS pci_bars\n");
  return 0;
}
