/* SPDX-License-Identifier: Apache-2.0 */
/* MP table parsing (Intel MultiProcessor Specification 1.4, chapter 4). */
#include "guest.h"

struct mp_floating {  /* table 4-1 */
  char signature[4];  /* "_MP_" */
  uint32_t config_addr;
  uint8_t length;     /* in 16-byte units: 1 */
  uint8_t spec_rev;
  uint8_t checksum;
  uint8_t features[5];
} __attribute__((packed));

struct mp_config {  /* table 4-2 */
  char signature[4];  /* "PCMP" */
  uint16_t length;
  uint8_t spec_rev;
  uint8_t checksum;
  char oem_id[8];
  char product_id[12];
  uint32_t oem_table;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_addr;
  uint16_t ext_length;
  uint8_t ext_checksum;
  uint8_t reserved;
} __attribute__((packed));

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IO_INT = 3,
       MP_LOCAL_INT = 4 };

static uint8_t sum(const void *p, size_t n) {
  const uint8_t *b = p;
  uint8_t s = 0;
  while (n--) s += *b++;
  return s;
}

static const struct mp_floating *scan(uint64_t start, uint64_t len) {
  for (uint64_t a = start; a + 16 <= start + len; a += 16) {
    const struct mp_floating *f = (const void *)a;
    if (!memcmp(f->signature, "_MP_", 4) && f->length == 1 &&
        sum(f, 16) == 0) {
      return f;
    }
  }
  return NULL;
}

const char *mp_parse(struct mp_info *info) {
  memset(info, 0, sizeof(*info));
  for (int i = 0; i < 16; i++) info->isa_irq_pin[i] = -1;
  /* Search order of MP 1.4 4.0: first KiB of the EBDA, last KiB of base
   * memory, then the BIOS ROM. */
  uint64_t ebda = (uint64_t)(*(volatile uint16_t *)0x40e) << 4;
  const struct mp_floating *f = NULL;
  if (ebda) f = scan(ebda, 1024);
  if (!f) f = scan(0x9fc00, 1024);
  if (!f) f = scan(0xf0000, 0x10000);
  if (!f) return "no MP floating pointer (\"_MP_\") in the EBDA, 0x9fc00 or 0xf0000";
  if (!f->config_addr) return "MP floating pointer has no configuration table";
  const struct mp_config *c = (const void *)(uint64_t)f->config_addr;
  if (memcmp(c->signature, "PCMP", 4)) return "MP configuration table lacks \"PCMP\"";
  if (sum(c, c->length) != 0) return "MP configuration table checksum is wrong";
  info->lapic_addr = c->lapic_addr;

  int8_t isa_bus = -1;
  const uint8_t *e = (const uint8_t *)(c + 1);
  const uint8_t *end = (const uint8_t *)c + c->length;
  for (unsigned i = 0; i < c->entry_count; i++) {
    if (e >= end) return "MP entries run past the table length";
    switch (e[0]) {
      case MP_PROCESSOR:  /* 20 bytes: id, version, flags (EN, BP) */
        if (e[3] & 1) {
          if (info->ncpus >= MAX_CPUS) return "more than MAX_CPUS processors";
          info->apic_ids[info->ncpus++] = e[1];
          if (e[3] & 2) info->bsp_apic_id = e[1];
        }
        e += 20;
        break;
      case MP_BUS:  /* 8 bytes: id, type string */
        if (!memcmp(e + 2, "ISA", 3)) isa_bus = (int8_t)e[1];
        e += 8;
        break;
      case MP_IOAPIC:  /* 8 bytes: id, version, flags, address */
        info->ioapic_id = e[1];
        memcpy(&info->ioapic_addr, e + 4, 4);
        e += 8;
        break;
      case MP_IO_INT: {  /* type, irq type, flags, bus, bus irq, apic, pin */
        uint16_t flags;
        memcpy(&flags, e + 2, 2);
        if (e[1] == 0 && (int8_t)e[4] == isa_bus && e[5] < 16) {
          info->isa_irq_pin[e[5]] = (int8_t)e[7];
          info->isa_irq_flags[e[5]] = flags;
        }
        e += 8;
        break;
      }
      case MP_LOCAL_INT:
        e += 8;
        break;
      default:
        return "unknown MP configuration entry type";
    }
  }
  if (!info->ncpus) return "MP table lists no enabled processor";
  if (!info->ioapic_addr) return "MP table lists no IOAPIC";
  return NULL;
}
