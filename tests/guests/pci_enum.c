/* SPDX-License-Identifier: Apache-2.0 */
/* PCI enumeration of bus 0 through both configuration mechanisms.
 *
 * Expects microvm's root complex with the host bridge at 00:00.0 and at
 * least one PCI test device (devices/pci_test_device.h, 1234:7e57). Checks:
 *  - CF8/CFC and ECAM see the same 256 bytes of every present function,
 *    with every access size; absent functions read all-ones through both,
 *    and ignore writes; ECAM reaches
 *    the extended space (zero on a present function without extended
 *    capabilities, all-ones on an absent one);
 *  - the CONFIG_ADDRESS latch reads back;
 *  - the host bridge's IDs and class; the test device's header (pin A,
 *    Interrupt Line = GSI 16 + slot % 4, capability list);
 *  - BAR sizing (decode off, all-ones, read mask, restore) and types of
 *    BAR0-5 and the ROM BAR, and that the VMM placed each BAR in its window;
 *  - the capability list: MSI (4 vectors, 64-bit, per-vector mask) and MSI-X
 *    (8 vectors, table and PBA in BAR4).
 * Prints "pci_enum: function 00:DD.0 VVVV:DDDD class CCCCCC" per function,
 * then "pci_enum: functions=N test_devices=T" and PASS/FAIL lines. */
#include "guest.h"

#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x7e57


/* Both mechanisms agree on every byte of [0, 0x100), at every size. */
static void compare_mechanisms(uint8_t dev, uint8_t fn) {
  for (uint16_t reg = 0; reg < 0x100; reg += 4) {
    uint32_t cf8 = pci_read(PCI_CF8, dev, fn, reg, 4);
    uint32_t ecam = pci_read(PCI_ECAM, dev, fn, reg, 4);
    if (cf8 != ecam) {
      check_fail("00:%02x.%u reg 0x%x: CF8 reads 0x%x, ECAM 0x%x", dev, fn, reg,
           cf8, ecam);
      return;
    }
    for (int size = 1; size <= 2; size *= 2) {
      for (int off = 0; off < 4; off += size) {
        uint32_t want = (ecam >> (8 * off)) & (size == 1 ? 0xff : 0xffff);
        uint32_t a = pci_read(PCI_CF8, dev, fn, (uint16_t)(reg + off), size);
        uint32_t b = pci_read(PCI_ECAM, dev, fn, (uint16_t)(reg + off), size);
        if (a != want || b != want) {
          check_fail("00:%02x.%u reg 0x%x size %d: CF8 0x%x ECAM 0x%x, dword says "
               "0x%x", dev, fn, reg + off, size, a, b, want);
          return;
        }
      }
    }
  }
}

/* Sizes BAR `index` the way firmware does; returns the read-back mask. */
static uint32_t size_reg(uint8_t dev, uint16_t reg) {
  uint32_t saved = pci_read32(dev, reg);
  pci_write32(dev, reg, 0xffffffffu);
  uint32_t mask = pci_read32(dev, reg);
  pci_write32(dev, reg, saved);
  CHECK_EQ("BAR restored after sizing", pci_read32(dev, reg), saved);
  return mask;
}

static void check_bars(uint8_t dev) {
  uint16_t cmd = pci_read16(dev, 0x04);
  if ((cmd & 3) != 3) check_fail("the VMM left I/O+memory decode off: 0x%x", cmd);
  /* Where the VMM (firmware-style AssignBars) put them. */
  uint64_t bar0 = pci_bar_address(dev, 0), bar1 = pci_bar_address(dev, 1);
  uint64_t bar2 = pci_bar_address(dev, 2), bar4 = pci_bar_address(dev, 4);
  print("pci_enum: BAR0=%lx BAR1=%lx BAR2=%lx BAR4=%lx\n", bar0, bar1, bar2,
        bar4);
  if (bar0 < 0xc0000000ull || bar0 >= 0xe0000000ull || bar0 % 4096)
    check_fail("BAR0 0x%lx is not in the 32-bit window, 4 KiB aligned", bar0);
  if (bar1 < 0xc000 || bar1 > 0xffe0 || bar1 % 32)
    check_fail("BAR1 0x%lx is not in the I/O window, 32-byte aligned", bar1);
  if (bar2 == 0 || bar2 % (1 << 20))
    check_fail("BAR2 0x%lx is not placed, 1 MiB aligned", bar2);
  if (bar4 < 0xc0000000ull || bar4 >= 0xe0000000ull || bar4 % 4096)
    check_fail("BAR4 0x%lx is not in the 32-bit window, 4 KiB aligned", bar4);

  /* Sizing with decode off (PCI 3.0 6.2.5.1 implementation note). */
  pci_write16(dev, 0x04, cmd & ~3);
  CHECK_EQ("BAR0 mask (4 KiB, 32-bit memory)", size_reg(dev, 0x10),
            0xfffff000u);
  CHECK_EQ("BAR1 mask (32 bytes of I/O)", size_reg(dev, 0x14), 0xffffffe1u);
  CHECK_EQ("BAR2 mask (1 MiB, 64-bit prefetchable)", size_reg(dev, 0x18),
            0xfff0000cu);
  CHECK_EQ("BAR3 mask (BAR2's upper half)", size_reg(dev, 0x1c),
            0xffffffffu);
  CHECK_EQ("BAR4 mask (4 KiB, 32-bit memory)", size_reg(dev, 0x20),
            0xfffff000u);
  CHECK_EQ("BAR5 mask (unused)", size_reg(dev, 0x24), 0);
  CHECK_EQ("ROM BAR mask (2 KiB + enable)", size_reg(dev, 0x30),
            0xfffff801u);
  pci_write16(dev, 0x04, cmd);
  CHECK_EQ("BAR0 after sizing", pci_bar_address(dev, 0), bar0);
  CHECK_EQ("BAR2 after sizing", pci_bar_address(dev, 2), bar2);
  CHECK_EQ("command after sizing", pci_read16(dev, 0x04), cmd);
}

static void check_caps(uint8_t dev) {
  uint8_t msi = pci_find_cap(dev, 0x05), msix = pci_find_cap(dev, 0x11);
  print("pci_enum: caps msi=0x%x msix=0x%x\n", msi, msix);
  if (!msi) {
    check_fail("no MSI capability in the list");
  } else {
    uint16_t ctl = pci_read16(dev, msi + 2);
    CHECK_EQ("MSI Multiple Message Capable (4 vectors)", (ctl >> 1) & 7, 2);
    CHECK_EQ("MSI 64-bit address capable", (ctl >> 7) & 1, 1);
    CHECK_EQ("MSI per-vector masking capable", (ctl >> 8) & 1, 1);
    CHECK_EQ("MSI enable at reset", ctl & 1, 0);
  }
  if (!msix) {
    check_fail("no MSI-X capability in the list");
  } else {
    uint16_t ctl = pci_read16(dev, msix + 2);
    CHECK_EQ("MSI-X table size - 1", ctl & 0x7ff, 7);
    CHECK_EQ("MSI-X enable/function mask at reset", ctl >> 14, 0);
    CHECK_EQ("MSI-X table offset/BIR", pci_read32(dev, msix + 4), 4);
    CHECK_EQ("MSI-X PBA offset/BIR", pci_read32(dev, msix + 8), 0x804);
  }
}

static void check_test_device(uint8_t dev) {
  CHECK_EQ("test device header type", pci_read8(dev, 0x0e), 0);
  CHECK_EQ("test device Interrupt Pin (INTA)", pci_read8(dev, 0x3d), 1);
  CHECK_EQ("test device Interrupt Line (GSI 16 + slot % 4)",
            pci_read8(dev, 0x3c), 16 + dev % 4);
  CHECK_EQ("test device Status.CAP_LIST", (pci_read16(dev, 0x06) >> 4) & 1,
            1);
  /* Extended space: present but empty; reads 0 (no extended capability). */
  CHECK_EQ("test device ECAM reg 0x100", pci_read(PCI_ECAM, dev, 0, 0x100, 4),
            0);
  CHECK_EQ("test device ECAM reg 0xffc", pci_read(PCI_ECAM, dev, 0, 0xffc, 4),
            0);
  /* Read-only registers ignore writes, through both mechanisms. */
  pci_write(PCI_CF8, dev, 0, 0x00, 4, 0);
  pci_write(PCI_ECAM, dev, 0, 0x08, 4, 0);
  CHECK_EQ("IDs after a write", pci_read32(dev, 0),
            (TEST_DEVICE << 16) | TEST_VENDOR);
  CHECK_EQ("class after a write", pci_read32(dev, 0x08) >> 8, 0xff0000);
  /* Interrupt Line is read-write scratch for the OS (6.2.4). */
  pci_write(PCI_CF8, dev, 0, 0x3c, 1, 0x5a);
  CHECK_EQ("Interrupt Line written by CF8, read by ECAM",
            pci_read(PCI_ECAM, dev, 0, 0x3c, 1), 0x5a);
  pci_write(PCI_ECAM, dev, 0, 0x3c, 1, 16 + dev % 4);
  check_bars(dev);
  check_caps(dev);
}

int guest_main(void) {
  check_begin("pci_enum");
  /* CONFIG_ADDRESS reads back as written (enable, bus, dev, fn, reg). */
  outl(0xcf8, 0x80001a08u);
  CHECK_EQ("CONFIG_ADDRESS read-back", inl(0xcf8), 0x80001a08u);
  /* With the enable bit clear, CONFIG_DATA is not a config cycle. */
  outl(0xcf8, 0x00000000u);
  CHECK_EQ("CONFIG_DATA with enable clear", inl(0xcfc), 0xffffffffu);

  int functions = 0, test_devices = 0;
  for (uint8_t dev = 0; dev < 32; dev++) {
    for (uint8_t fn = 0; fn < 8; fn++) {
      uint32_t id = pci_read(PCI_ECAM, dev, fn, 0, 4);
      CHECK_EQ("IDs through CF8 and ECAM", pci_read(PCI_CF8, dev, fn, 0, 4),
                id);
      if (id == 0xffffffffu) {
        /* Absent: all-ones everywhere, at every size, also in the extended
         * space (a full compare of 256 absent functions would take many
         * seconds of exits in the nested machine). */
        CHECK_EQ("absent function reg 0x3c (CF8)",
                  pci_read(PCI_CF8, dev, fn, 0x3c, 4), 0xffffffffu);
        CHECK_EQ("absent function reg 0x3c (ECAM)",
                  pci_read(PCI_ECAM, dev, fn, 0x3c, 4), 0xffffffffu);
        CHECK_EQ("absent function reg 0x2 word (CF8)",
                  pci_read(PCI_CF8, dev, fn, 0x2, 2), 0xffff);
        CHECK_EQ("absent function reg 0x3 byte (ECAM)",
                  pci_read(PCI_ECAM, dev, fn, 0x3, 1), 0xff);
        CHECK_EQ("absent function reg 0x100 (ECAM)",
                  pci_read(PCI_ECAM, dev, fn, 0x100, 4), 0xffffffffu);
        /* Writes to nothing go nowhere. */
        pci_write(PCI_ECAM, dev, fn, 0x04, 2, 0x7);
        pci_write(PCI_CF8, dev, fn, 0x04, 2, 0x7);
        CHECK_EQ("absent function after a write",
                  pci_read(PCI_ECAM, dev, fn, 0, 4), 0xffffffffu);
        continue;
      }
      functions++;
      compare_mechanisms(dev, fn);
      uint32_t class_rev = pci_read(PCI_ECAM, dev, fn, 0x08, 4);
      print("pci_enum: function 00:%02x.%u %04x:%04x class %06x\n", dev, fn,
            id & 0xffff, id >> 16, class_rev >> 8);
      if (fn != 0) check_fail("unexpected function 00:%02x.%u", dev, fn);
      if (dev == 0) {
        CHECK_EQ("host bridge IDs", id, 0x00081b36u);
        CHECK_EQ("host bridge class", class_rev >> 8, 0x060000u);
      } else if (id == ((TEST_DEVICE << 16) | TEST_VENDOR)) {
        test_devices++;
        check_test_device(dev);
      }
    }
  }
  if (pci_read32(0, 0) == 0xffffffffu) check_fail("no host bridge at 00:00.0");
  if (test_devices == 0) check_fail("no test device (1234:7e57) on bus 0");
  print("pci_enum: functions=%d test_devices=%d\n", functions, test_devices);
  if (check_failures()) return 1;
  print("PASS pci_enum\n");
  return 0;
}
