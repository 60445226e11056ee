/* SPDX-License-Identifier: Apache-2.0 */
/* MSI-X (and MSI) garbage against the PCI test device
 * (devices/pci_test_device.h):
 *  - PRNG values into every dword of every MSI-X table entry and the PBA
 *    (read-only), accesses of 1, 2, 4 and 8 bytes at every offset of the
 *    MSI-X BAR, aligned or not, including the hole between the table's end
 *    (0x80) and the PBA (0x800) and the PBA's tail;
 *  - MSI-X Enable and Function Mask toggled at random, MSI enabled at the
 *    same time with garbage in its capability, vectors masked and unmasked;
 *  - the device asked to raise every vector and out-of-range ones
 *    (MSIX_FIRE 8, 255, all-ones; MSI_FIRE likewise) in every state.
 * Message addresses are garbage and never 0xFEExxxxx, except for the final
 * check. Message data is garbage except for the delivery mode (bits 10:8),
 * which is forced to Fixed: INIT, SIPI and SMI messages stop or divert the
 * guest's own vCPU (legitimately: a guest may do that to itself), which
 * would hide what this test looks for. Interrupts stay off (IF=0), so
 * whatever fixed vectors arrive just wait in the LAPIC's IRR.
 *
 * Afterwards one entry is programmed properly and must deliver (its vector
 * appears in the LAPIC's IRR), and MSI and MSI-X end disabled, which must
 * return every host vector (the test checks host_vectors() == 0).
 * Prints "hostile_msix: ..." lines and PASS/FAIL lines. */
#include "guest.h"

#define TEST_VENDOR 0x1234
#define TEST_DEVICE 0x7e57
#define MAGIC 0x4454564du

#define REG_MSI_FIRE 0x14
#define REG_MSIX_FIRE 0x18

#define REGS 0xc0100000ull
#define MSIX 0xc0101000ull
#define MSIX_VECTORS 8
#define PBA_OFFSET 0x800
#define GOOD_VECTOR 0xe0 /* the only vector in 0xe0-0xff */

#define CAP_MSI 0x05
#define CAP_MSIX 0x11

static uint64_t rng = 0x3151c0deull;
static uint8_t dev;
static uint8_t msi_cap, msix_cap;

/* Garbage message data with a Fixed delivery mode and a vector below
 * GOOD_VECTOR's block of 32 (MSI's Multiple Message Enable ORs the vector
 * index into the low 5 bits, so only the top 3 bits are safe to rely on). */
static uint32_t garbage_data(void) {
  uint32_t data = (uint32_t)xorshift64(&rng) & ~0x700u;
  if ((data & 0xe0) == (GOOD_VECTOR & 0xe0)) data &= ~0x20u;
  return data;
}

/* Garbage message address outside the interrupt range 0xFEExxxxx. */
static uint32_t garbage_address(void) {
  uint32_t a = (uint32_t)xorshift64(&rng);
  if ((a & 0xfff00000u) == 0xfee00000u) a ^= 0x80000000u;
  return a;
}

static void garbage_table(void) {
  for (int v = 0; v < MSIX_VECTORS; v++) {
    uint64_t e = MSIX + 16ull * v;
    mmio_write32(e + 0, garbage_address());
    mmio_write32(e + 4, (uint32_t)xorshift64(&rng));
    mmio_write32(e + 8, garbage_data());
    mmio_write32(e + 12, (uint32_t)xorshift64(&rng));  /* mask bit random */
  }
}

static void msix_control(uint16_t bits) {
  uint16_t c = pci_read16(dev, (uint16_t)(msix_cap + 2));
  pci_write16(dev, (uint16_t)(msix_cap + 2), (uint16_t)((c & 0x07ff) | bits));
}

static void fire_everything(void) {
  static const uint32_t extra[] = {MSIX_VECTORS, 255, 0x80000000u, ~0u};
  for (uint32_t v = 0; v < MSIX_VECTORS; v++) {
    mmio_write32(REGS + REG_MSIX_FIRE, v);
    mmio_write32(REGS + REG_MSI_FIRE, v);
  }
  for (unsigned i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
    mmio_write32(REGS + REG_MSIX_FIRE, extra[i]);
    mmio_write32(REGS + REG_MSI_FIRE, extra[i]);
  }
}

static bool irr_has(uint8_t vector) {
  return (lapic_read(0x200 + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
}

int guest_main(void) {
  check_begin("hostile_msix");
  canary_fill();
  int found = pci_find(TEST_VENDOR, TEST_DEVICE);
  if (found < 0) {
    print("FAIL hostile_msix: no test device (1234:7e57) on bus 0\n");
    return 1;
  }
  dev = (uint8_t)found;
  lapic_enable();  /* a software-disabled LAPIC would not accept messages */
  msi_cap = pci_find_cap(dev, CAP_MSI);
  msix_cap = pci_find_cap(dev, CAP_MSIX);
  if (!msi_cap || !msix_cap) {
    print("FAIL hostile_msix: MSI at 0x%x, MSI-X at 0x%x\n", msi_cap,
          msix_cap);
    return 1;
  }
  pci_write16(dev, 0x04, 0);
  pci_set_bar(dev, 0, REGS);
  pci_set_bar(dev, 4, MSIX);
  pci_write16(dev, 0x04, 0x6);  /* memory decode, bus master */
  CHECK_EQ("ID through BAR0", mmio_read32(REGS), MAGIC);

  /* Every offset of the MSI-X BAR at every size, raw garbage, with MSI-X
   * disabled and then enabled under Function Mask: states in which nothing
   * is delivered, so the table may hold anything. The table is then
   * rewritten with garbage by the rules above before anything can be sent
   * (pending vectors go out when Function Mask clears). */
  static const int sizes[] = {1, 2, 4, 8};
  static const uint16_t states[] = {0, 0xc000};
  uint64_t accesses = 0;
  for (unsigned st = 0; st < 2; st++) {
    msix_control(states[st]);
    for (uint32_t off = 0; off < 0x1000; off++) {
      for (int s = 0; s < 4; s++) {
        if (off + (uint32_t)sizes[s] > 0x1000) continue;
        (void)mmio_access(MSIX + off, sizes[s], false, 0);
        (void)mmio_access(MSIX + off, sizes[s], true, xorshift64(&rng));
        (void)mmio_access(MSIX + off, sizes[s], true, ~0ull);
        accesses += 3;
      }
    }
    garbage_table();
    fire_everything();
  }
  /* Enabled and unmasked: raw garbage everywhere but the table. */
  msix_control(0x8000);
  fire_everything();
  for (uint32_t off = MSIX_VECTORS * 16; off < 0x1000; off++) {
    for (int s = 0; s < 4; s++) {
      if (off + (uint32_t)sizes[s] > 0x1000) continue;
      (void)mmio_access(MSIX + off, sizes[s], false, 0);
      (void)mmio_access(MSIX + off, sizes[s], true, xorshift64(&rng));
      accesses += 2;
    }
  }
  fire_everything();
  print("hostile_msix: every offset and size of the MSI-X BAR, accesses=%lu\n",
        accesses);

  /* Garbage in the MSI capability too, then both capabilities on. */
  for (uint16_t r = 4; r < 24; r += 4) {
    uint32_t v = r == 12 || r == 8 ? garbage_data() : garbage_address();
    pci_write32(dev, (uint16_t)(msi_cap + r), v);
  }
  for (int round = 0; round < 200; round++) {
    garbage_table();
    uint64_t r = xorshift64(&rng);
    msix_control((uint16_t)(r & 0xc000));
    uint16_t msi_control = pci_read16(dev, (uint16_t)(msi_cap + 2));
    pci_write16(dev, (uint16_t)(msi_cap + 2),
                (uint16_t)((msi_control & ~0x71u) | ((r >> 16) & 0x71)));
    /* The PBA is read-only; write it anyway. */
    mmio_write64(MSIX + PBA_OFFSET, xorshift64(&rng));
    fire_everything();
    msix_control((uint16_t)((r >> 20) & 0xc000));
    fire_everything();
  }
  print("hostile_msix: 200 rounds of garbage tables, enables and masks\n");

  /* MSI off; MSI-X with one proper entry must still deliver. */
  uint16_t msi_control = pci_read16(dev, (uint16_t)(msi_cap + 2));
  pci_write16(dev, (uint16_t)(msi_cap + 2), (uint16_t)(msi_control & ~1u));
  msix_control(0xc000);
  for (int v = 0; v < MSIX_VECTORS; v++) {
    mmio_write32(MSIX + 16ull * v + 12, 1);  /* masked */
  }
  mmio_write32(MSIX + 0, 0xfee00000u | (lapic_id() << 12));
  mmio_write32(MSIX + 4, 0);
  mmio_write32(MSIX + 8, GOOD_VECTOR);
  CHECK_EQ("GOOD_VECTOR pending before the proper message",
           irr_has(GOOD_VECTOR), 0);
  /* Unmasking may send entry 0's pending message (6.8.2.9): the proper one
   * now, so GOOD_VECTOR either way. */
  mmio_write32(MSIX + 12, 0);
  msix_control(0x8000);
  mmio_write32(REGS + REG_MSIX_FIRE, 0);
  if (irr_has(GOOD_VECTOR)) {
    print("hostile_msix: a proper entry still delivers\n");
  } else {
    check_fail("the proper message did not make GOOD_VECTOR pending");
  }

  msix_control(0);
  pci_write16(dev, 0x04, 0);
  canary_ok("after the MSI-X storm");
  if (check_failures()) return 1;
  print("PASS hostile_msix\n");
  return 0;
}
