/* SPDX-License-Identifier: Apache-2.0 */
/* LAPIC, IOAPIC and PIT programming, the calibrated clock and bounded waits. */
#include "guest.h"

/* xAPIC registers (SDM Vol. 3A table 10-1). */
#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_PERIODIC (1u << 17)
#define ICR_PENDING (1u << 12)
#define MSR_APIC_BASE 0x1b

static uint64_t lapic_base = 0xfee00000;

uint32_t lapic_read(uint32_t reg) { return mmio_read32(lapic_base + reg); }
void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(lapic_base + reg, v); }

void lapic_enable(void) {
  lapic_base = rdmsr(MSR_APIC_BASE) & 0xfffff000u;
  lapic_write(LAPIC_TPR, 0);
  lapic_write(LAPIC_SVR, 0x100 | VECTOR_SPURIOUS);  /* APIC software enable */
  lapic_write(LAPIC_TIMER_DIVIDE, 0xb);             /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
}

uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

static uint32_t lapic_count(uint32_t us) {
  uint64_t c = (uint64_t)us * lapic_per_us;
  return c > 0xffffffffu ? 0xffffffffu : (c ? (uint32_t)c : 1);
}

void lapic_timer_oneshot(uint8_t vector, uint32_t us) {
  lapic_write(LAPIC_LVT_TIMER, vector);
  lapic_write(LAPIC_TIMER_INITIAL, lapic_count(us));
}

void lapic_timer_periodic(uint8_t vector, uint32_t period_us) {
  lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | vector);
  lapic_write(LAPIC_TIMER_INITIAL, lapic_count(period_us));
}

void lapic_timer_stop(void) {
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
  lapic_write(LAPIC_TIMER_INITIAL, 0);
}

bool lapic_send_ipi(uint32_t apic_id, uint32_t icr_low) {
  lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
  lapic_write(LAPIC_ICR_LOW, icr_low);
  for (int i = 0; i < 1000000; i++) {
    if (!(lapic_read(LAPIC_ICR_LOW) & ICR_PENDING)) return true;
    cpu_relax();
  }
  return false;
}

/* ---- IOAPIC ---- */

static uint64_t ioapic_base = IOAPIC_DEFAULT_ADDR;

uint32_t ioapic_read(uint32_t reg) {
  mmio_write32(ioapic_base, reg);         /* IOREGSEL */
  return mmio_read32(ioapic_base + 0x10); /* IOWIN */
}

void ioapic_write(uint32_t reg, uint32_t v) {
  mmio_write32(ioapic_base, reg);
  mmio_write32(ioapic_base + 0x10, v);
}

uint32_t ioapic_pins(void) { return ((ioapic_read(1) >> 16) & 0xff) + 1; }

void ioapic_route(uint32_t pin, uint8_t vector, uint32_t dest_apic,
                  bool level_triggered, bool active_low) {
  uint32_t low = vector | (active_low ? 1u << 13 : 0) |
                 (level_triggered ? 1u << 15 : 0);
  ioapic_write(0x10 + 2 * pin, LVT_MASKED);  /* masked while changing */
  ioapic_write(0x11 + 2 * pin, dest_apic << 24);
  ioapic_write(0x10 + 2 * pin, low);
}

void ioapic_mask(uint32_t pin) { ioapic_write(0x10 + 2 * pin, LVT_MASKED); }

/* ---- PIT ---- */

void pit_periodic(uint32_t hz) {
  uint32_t div = PIT_HZ / hz;
  if (div > 0xffff) div = 0xffff;
  outb(0x43, 0x34);  /* channel 0, lobyte/hibyte, mode 2, binary */
  outb(0x40, (uint8_t)div);
  outb(0x40, (uint8_t)(div >> 8));
}

void pit_stop(void) {
  outb(0x43, 0x30);  /* mode 0 with a count that never gets loaded */
}

static uint16_t pit_read0(void) {
  outb(0x43, 0x00);  /* latch channel 0 */
  uint8_t lo = inb(0x40);
  uint8_t hi = inb(0x40);
  return (uint16_t)(lo | hi << 8);
}

/* ---- Time ---- */

uint64_t tsc_per_us;
uint64_t lapic_per_us;

void timers_init(void) {
  lapic_enable();
  if (tsc_per_us) return;
  /* PIT channel 0 in mode 0 counts down from 0xffff at 1.193182 MHz; its
   * IRQ0 stays masked (PIC masked, IOAPIC pins masked since reset). The LAPIC
   * timer runs one-shot, masked, from 0xffffffff. 10 ms = 11932 PIT ticks. */
  outb(0x43, 0x30);
  outb(0x40, 0xff);
  outb(0x40, 0xff);
  lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
  lapic_write(LAPIC_TIMER_INITIAL, 0xffffffffu);
  uint16_t p0 = pit_read0();
  uint64_t t0 = rdtsc();
  uint32_t l0 = lapic_read(LAPIC_TIMER_CURRENT);
  uint16_t p1 = p0;
  for (int i = 0; i < 10000000 && (uint16_t)(p0 - p1) < 11932; i++) {
    p1 = pit_read0();
  }
  uint64_t t1 = rdtsc();
  uint32_t l1 = lapic_read(LAPIC_TIMER_CURRENT);
  lapic_write(LAPIC_TIMER_INITIAL, 0);
  uint64_t ticks = (uint16_t)(p0 - p1);
  if (ticks < 1000) {
    /* The PIT did not count: assume KVM's 1 GHz APIC bus and a 2 GHz TSC so
     * waits stay bounded, and say so. */
    print("note: PIT channel 0 did not count; assuming 1 GHz LAPIC timer\n");
    tsc_per_us = 2000;
    lapic_per_us = 1000;
    return;
  }
  uint64_t us = ticks * 1000000 / PIT_HZ;
  tsc_per_us = (t1 - t0) / us;
  lapic_per_us = (uint64_t)(l0 - l1) / us;
  if (!tsc_per_us) tsc_per_us = 1;
  if (!lapic_per_us) lapic_per_us = 1;
}

uint64_t now_us(void) { return rdtsc() / tsc_per_us; }

void udelay(uint64_t us) {
  uint64_t end = now_us() + us;
  while (now_us() < end) cpu_relax();
}

/* ---- Bounded waits ---- */

struct wait_stats wait_stats;
static volatile bool rescue_fired;

static void on_rescue(struct isr_frame *f) {
  (void)f;
  rescue_fired = true;
  lapic_eoi();
}

bool wait_until(bool (*done)(void *), void *arg, uint32_t timeout_ms) {
  set_handler(VECTOR_RESCUE, on_rescue);
  wait_stats.waits++;
  uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000;
  for (;;) {
    cli();
    if (done(arg)) {
      sti();
      return true;
    }
    if (now_us() >= deadline) {
      wait_stats.lost++;
      sti();
      return false;
    }
    rescue_fired = false;
    lapic_timer_oneshot(VECTOR_RESCUE, RESCUE_US);
    sti_hlt();
    cli();
    lapic_timer_stop();
    if (rescue_fired) {
      wait_stats.timer_wakeups++;
      if (done(arg)) wait_stats.rescued++;
    }
  }
}

void print_wait_stats(void) {
  print("waits=%u timer_wakeups=%u rescued=%u lost=%u\n", wait_stats.waits,
        wait_stats.timer_wakeups, wait_stats.rescued, wait_stats.lost);
}
