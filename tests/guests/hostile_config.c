/* SPDX-License-Identifier: Apache-2.0 */
/* Config space storm: every offset (0..4095) at every size (1, 2, 4 and 8)
 * of the configuration space of present and absent functions, through ECAM,
 * and every register byte (0..255) through CF8/CFC at every data port
 * (0xCFC..0xCFF, so misaligned) and size, each access a read, a write of
 * PRNG garbage and a write of all-ones; then CONFIG_ADDRESS values with
 * odd bits (enable clear, reserved bits 30:24, bits 1:0) and byte/word
 * accesses to 0xCF8..0xCFB.
 *
 * Afterwards the VMM must still answer: the host bridge and the test device
 * keep their read-only IDs through both mechanisms, absent functions read
 * all-ones, and the guest's RAM canary is intact. Interrupts stay off (IF=0)
 * throughout: garbage in the MSI capability may route vectors, but the
 * device only signals when its registers ask it to.
 * Prints "hostile_config: ..." lines and PASS/FAIL lines. */
#include "guest.h"

#define TEST_ID 0x7e571234u   /* device << 16 | vendor */
#define BRIDGE_ID 0x00081b36u

struct function {
  uint8_t bus, dev, fn;
  bool present;
};

static uint64_t rng = 0xc0ff1ce5eedull;
static uint64_t accesses;

static void ecam_storm(const struct function *f) {
  static const int sizes[] = {1, 2, 4, 8};
  for (uint32_t reg = 0; reg < 4096; reg++) {
    for (int s = 0; s < 4; s++) {
      /* An 8-byte access at the last bytes would leave the function's 4 KiB
       * for the next one's: still config space, still fine, but keep each
       * storm on its own function. */
      if (reg + (uint32_t)sizes[s] > 4096) continue;
      uint64_t a = ecam_addr(f->bus, f->dev, f->fn, (uint16_t)reg);
      (void)mmio_access(a, sizes[s], false, 0);
      (void)mmio_access(a, sizes[s], true, xorshift64(&rng));
      (void)mmio_access(a, sizes[s], true, ~0ull);
      accesses += 3;
    }
  }
}

static void cf8_storm(const struct function *f) {
  static const int sizes[] = {1, 2, 4};
  for (uint32_t reg = 0; reg < 256; reg++) {
    /* Bits 1:0 of CONFIG_ADDRESS are set for unaligned registers. */
    uint32_t address = cf8_addr(f->bus, f->dev, f->fn, (uint8_t)reg);
    for (uint16_t port = 0xcfc; port <= 0xcff; port++) {
      for (int s = 0; s < 3; s++) {
        outl(0xcf8, address);
        (void)pio_access(port, sizes[s], false, 0);
        outl(0xcf8, address);
        (void)pio_access(port, sizes[s], true, (uint32_t)xorshift64(&rng));
        outl(0xcf8, address);
        (void)pio_access(port, sizes[s], true, ~0u);
        accesses += 6;
      }
    }
  }
}

/* CONFIG_ADDRESS itself: random values (enable bit either way, reserved
 * bits set), read back at every size, and byte/word writes to 0xCF8..0xCFB,
 * each followed by data-port accesses. */
static void cf8_odd(void) {
  for (int i = 0; i < 4096; i++) {
    uint32_t v = (uint32_t)xorshift64(&rng);
    int size = 1 << (i % 3);
    uint16_t port = (uint16_t)(0xcf8 + (i % 4));
    if (i % 2) outl(0xcf8, v);
    else (void)pio_access(port, size, true, v);
    (void)pio_access(port, size, false, 0);
    (void)pio_access((uint16_t)(0xcfc + (i % 4)), size, false, 0);
    (void)pio_access((uint16_t)(0xcfc + ((i / 4) % 4)), size, true,
                     (uint32_t)xorshift64(&rng));
    accesses += 4;
  }
}

static void check_ids(uint8_t test_dev, const char *when) {
  char what[96];
  snprint(what, sizeof(what), "host bridge ID through ECAM %s", when);
  CHECK_EQ(what, mmio_read32(ecam_addr(0, 0, 0, 0)), BRIDGE_ID);
  snprint(what, sizeof(what), "test device ID through ECAM %s", when);
  CHECK_EQ(what, mmio_read32(ecam_addr(0, test_dev, 0, 0)), TEST_ID);
  snprint(what, sizeof(what), "test device ID through CF8 %s", when);
  outl(0xcf8, cf8_addr(0, test_dev, 0, 0));
  CHECK_EQ(what, inl(0xcfc), TEST_ID);
  snprint(what, sizeof(what), "host bridge ID through CF8 %s", when);
  outl(0xcf8, cf8_addr(0, 0, 0, 0));
  CHECK_EQ(what, inl(0xcfc), BRIDGE_ID);
  snprint(what, sizeof(what), "absent function through ECAM %s", when);
  CHECK_EQ(what, mmio_read32(ecam_addr(0, 0x1f, 7, 0)), 0xffffffffu);
  snprint(what, sizeof(what), "absent bus through CF8 %s", when);
  outl(0xcf8, cf8_addr(1, 0, 0, 0));
  CHECK_EQ(what, inl(0xcfc), 0xffffffffu);
}

int guest_main(void) {
  check_begin("hostile_config");
  canary_fill();
  int found = pci_find(0x1234, 0x7e57);
  if (found < 0) {
    print("FAIL hostile_config: no test device (1234:7e57) on bus 0\n");
    return 1;
  }
  uint8_t dev = (uint8_t)found;
  check_ids(dev, "before the storm");

  const struct function functions[] = {
      {0, 0, 0, true},              /* host bridge */
      {0, dev, 0, true},            /* test device */
      {0, dev, 1, false},           /* absent function of a present device */
      {0, (uint8_t)(dev + 1), 0, false},
      {0, 0x1f, 7, false},
      {1, 0, 0, false},             /* absent bus */
      {0xff, 0x1f, 7, false},       /* the last function ECAM decodes */
  };
  for (unsigned i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
    const struct function *f = &functions[i];
    ecam_storm(f);
    cf8_storm(f);
    print("hostile_config: stormed %02x:%02x.%x (%s)\n", f->bus, f->dev, f->fn,
          f->present ? "present" : "absent");
  }
  cf8_odd();
  print("hostile_config: odd CONFIG_ADDRESS values\n");

  check_ids(dev, "after the storm");
  canary_ok("after the config storm");
  print("hostile_config: accesses=%lu\n", accesses);
  if (check_failures()) return 1;
  print("PASS hostile_config\n");
  return 0;
}
