/* SPDX-License-Identifier: Apache-2.0 */
/* BAR reprogramming against the PCI test device (devices/pci_test_device.h):
 * every BAR (and the ROM) moved over guest RAM (address 0, the guest's own
 * canary buffer, its code at 2 MiB), over each other, over the IOAPIC,
 * LAPIC and ECAM, over the legacy ports (CF8, COM1, i8042, ACPI sleep
 * control), to 0 and to all-ones, with the Command register's decode bits
 * toggled at random between moves; then a PRNG-driven run of the same.
 *
 * After each directed placement the guest checks that what it owns still
 * works: RAM (the canary) reads back as RAM, not as device registers; the
 * LAPIC and IOAPIC still answer; ECAM still shows the host bridge; the
 * console still prints. At the end every BAR goes to a sane place and the
 * device must still work through BAR0, BAR1 and its scratch RAM.
 * Prints "hostile_bars: ..." lines and PASS/FAIL lines. */
#include "guest.h"

#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x7e57
#define MAGIC 0x4454564du
#define BRIDGE_ID 0x00081b36u

#define REGS_A 0xc0100000ull
#define MSIX_ADDR 0xc0101000ull
#define SCRATCH_LOW 0xc0200000ull
#define IO_A 0xd000

static uint64_t rng = 0xba5eba11ull;
static uint8_t dev;

static void set_command(uint16_t value) { pci_write16(dev, 0x04, value); }

/* Writes a raw value to BAR register `index` (0-5) or the ROM (6). */
static void write_bar(int index, uint32_t value) {
  uint16_t reg = (uint16_t)(index == 6 ? 0x30 : 0x10 + 4 * index);
  pci_write32(dev, reg, value);
}

/* Everything the guest relies on, after a placement. */
static void check_world(const char *when) {
  canary_ok(when);
  char what[96];
  snprint(what, sizeof(what), "LAPIC version register %s", when);
  CHECK_EQ(what, lapic_read(0x30) & 0xff, 0x14);
  snprint(what, sizeof(what), "IOAPIC pins %s", when);
  CHECK_EQ(what, ioapic_pins(), 24);
  snprint(what, sizeof(what), "host bridge ID in ECAM %s", when);
  CHECK_EQ(what, pci_read32(0, 0), BRIDGE_ID);
  snprint(what, sizeof(what), "test device ID through CF8 %s", when);
  CHECK_EQ(what, pci_read(PCI_CF8, dev, 0, 0, 4),
           (TEST_DEVICE << 16) | TEST_VENDOR);
}

struct place {
  const char *name;
  uint64_t address;
};

int guest_main(void) {
  check_begin("hostile_bars");
  canary_fill();
  int found = pci_find(TEST_VENDOR, TEST_DEVICE);
  if (found < 0) {
    print("FAIL hostile_bars: no test device (1234:7e57) on bus 0\n");
    return 1;
  }
  dev = (uint8_t)found;
  map_5th_gib();

  const struct place memory_places[] = {
      {"address 0", 0},
      {"the RAM canary", canary_address()},
      {"the guest's code at 2 MiB", 0x200000},
      {"the boot page tables", 0x9000},
      {"the top of guest RAM", (64ull << 20) - 0x100000},
      {"the IOAPIC", IOAPIC_DEFAULT_ADDR},
      {"the LAPIC", 0xfee00000ull},
      {"ECAM", PCI_ECAM_BASE},
      {"the end of ECAM", PCI_ECAM_BASE + 0x10000000ull - 0x100000},
      {"the last MiB below 4 GiB", 0xfff00000ull},
      {"all-ones", 0xffffffffffffffffull},
      {"the top of the address space", 0xfffffffffff00000ull},
      {"one BAR (REGS_A)", REGS_A},
  };
  const struct place io_places[] = {
      {"port 0", 0},
      {"CF8/CFC", 0xcf8},
      {"COM1", 0x3f8},
      {"the i8042", 0x60},
      {"the ACPI sleep control port", 0x3c0},
      {"the PIC", 0x20},
      {"the PIT", 0x40},
      {"the last ports", 0xffe0},
      {"all-ones", 0xffffffff},
  };

  /* Directed: every memory BAR, and the ROM, at every place, all of them
   * at once (over each other), with decode on. */
  for (unsigned p = 0; p < sizeof(memory_places) / sizeof(memory_places[0]);
       p++) {
    set_command(0);
    uint64_t a = memory_places[p].address;
    pci_set_bar(dev, 0, a);
    pci_set_bar(dev, 2, a);
    pci_set_bar(dev, 4, a);
    write_bar(6, (uint32_t)a | 1);
    set_command(0x7);  /* I/O, memory, bus master */
    char when[96];
    snprint(when, sizeof(when), "with the memory BARs over %s",
            memory_places[p].name);
    check_world(when);
    set_command(0x2);
    check_world(when);
  }
  print("hostile_bars: memory BARs over RAM, each other, LAPIC, IOAPIC, "
        "ECAM, 0 and all-ones\n");

  for (unsigned p = 0; p < sizeof(io_places) / sizeof(io_places[0]); p++) {
    set_command(0);
    write_bar(1, (uint32_t)io_places[p].address | 1);
    set_command(0x3);
    char when[96];
    snprint(when, sizeof(when), "with the I/O BAR over %s",
            io_places[p].name);
    /* The console (COM1) prints through the I/O bus: if the BAR took it,
     * this line is missing from the test's output. */
    print("hostile_bars: I/O BAR over %s\n", io_places[p].name);
    check_world(when);
  }

  /* PRNG-driven: random BAR, random value (an interesting place or raw
   * garbage), random Command bits. */
  const int rounds = 3000;
  for (int i = 0; i < rounds; i++) {
    uint64_t r = xorshift64(&rng);
    int index = (int)(r % 7);
    uint32_t value;
    switch ((r >> 8) % 4) {
      case 0:
        value = (uint32_t)memory_places[(r >> 16) %
                                        (sizeof(memory_places) /
                                         sizeof(memory_places[0]))]
                    .address;
        break;
      case 1:
        value = (uint32_t)io_places[(r >> 16) % (sizeof(io_places) /
                                                 sizeof(io_places[0]))]
                    .address;
        break;
      case 2:
        value = ~0u;
        break;
      default:
        value = (uint32_t)(r >> 32);
        break;
    }
    write_bar(index, value);
    if ((r >> 40) & 1) set_command((uint16_t)((r >> 41) & 0x7));
    if (i % 500 == 0) check_world("during the random BAR writes");
  }
  print("hostile_bars: %d random BAR writes\n", rounds);
  check_world("after the random BAR writes");

  /* Back to sane places: the device must work as before. */
  set_command(0);
  pci_set_bar(dev, 0, REGS_A);
  pci_set_bar(dev, 1, IO_A);
  pci_set_bar(dev, 2, SCRATCH_LOW);
  pci_set_bar(dev, 4, MSIX_ADDR);
  write_bar(6, 0);
  set_command(0x3);
  CHECK_EQ("ID through BAR0 after the storm", mmio_read32(REGS_A), MAGIC);
  CHECK_EQ("ID through BAR1 after the storm", inl(IO_A), MAGIC);
  mmio_write32(REGS_A + 0x08, 0x0badf00du);
  CHECK_EQ("scratch register through BAR1", inl(IO_A + 0x08), 0x0badf00du);
  mmio_write64(SCRATCH_LOW + 0x10, 0x1122334455667788ull);
  CHECK_EQ("scratch RAM after the storm", mmio_read64(SCRATCH_LOW + 0x10),
           0x1122334455667788ull);
  check_world("at the end");
  if (check_failures()) return 1;
  print("PASS hostile_bars\n");
  return 0;
}
