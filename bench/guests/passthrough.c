/* SPDX-License-Identifier: Apache-2.0 */
/* The passthrough-latency guest: QEMU's edu device (1234:11e8) given to the
 * guest with `microvm --vfio <bdf>`, driven over the serial console by
 * bench/passthrough_bench.cc in the lab machine.
 *
 * Protocol (one line each way; the host writes to microvm's stdin):
 *   guest: "PT ready"
 *   host:  "<op><count>\n"   op: i idle (count ms, interrupts on, nothing
 *          done), r BAR0 read, w BAR0 write, x INTx, m MSI, q quit
 *   guest: "PT done <op> n=<count> lost=<L> accesses=<A> tsc_per_us=<T>"
 *          (A: every BAR0 access the guest made so far, handlers included)
 *   guest: "PT s <hex ticks> ..." lines with the samples, then "PT end",
 *          then "PT ready" again.
 * The host takes its per-thread context-switch counts before it sends an op
 * and again at "PT done": the samples are printed after that line, so their
 * serial output is not in the window.
 *
 * A sample is the TSC delta from just before the measured access to the
 * access completing (r, w) or to the interrupt handler's first instruction
 * (x, m: edu raises its interrupt on a write to register 0x60). Interrupt
 * waits spin with interrupts on and are bounded (WAIT_MS); a timed-out
 * sample is BENCH_LOST. */
#include "guest.h"
#include "protocol.h"

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define REG_ID 0x00
#define REG_LIVENESS 0x04
#define REG_IRQ_STATUS 0x24
#define REG_IRQ_RAISE 0x60
#define REG_IRQ_ACK 0x64

#define VECTOR_INTX 0x30
#define VECTOR_MSI 0x40
#define WAIT_MS 1000
#define MAX_SAMPLES 100000u
#define UART_RBR 0
#define UART_LSR 5
#define LSR_DATA_READY 0x01

static uint64_t regs;
static uint8_t dev;
static uint32_t samples[MAX_SAMPLES];
/* BAR0 accesses made by the guest, handlers included: the host compares it
 * with the trap count microvm prints. Main-line accesses are made with
 * interrupts off, so the handler's increments never race them. */
static volatile uint64_t accesses;
static volatile uint64_t irq_tsc;
static volatile uint32_t irq_count;
static volatile uint32_t empty;

static uint32_t bar_read(uint32_t reg) {
  accesses++;
  return mmio_read32(regs + reg);
}

static void bar_write(uint32_t reg, uint32_t v) {
  accesses++;
  mmio_write32(regs + reg, v);
}

/* INTx and MSI: timestamp first, then acknowledge at the device (which
 * lowers INTx) and at the LAPIC. */
static void on_irq(struct isr_frame *f) {
  (void)f;
  uint64_t t = rdtsc();
  uint32_t status = bar_read(REG_IRQ_STATUS);
  if (status) {
    bar_write(REG_IRQ_ACK, status);
  } else {
    empty++;
  }
  irq_tsc = t;
  irq_count++;
  lapic_eoi();
}

static uint32_t ticks(uint64_t from, uint64_t to) {
  uint64_t d = to - from;
  return d >= BENCH_LOST ? BENCH_LOST - 1 : (uint32_t)d;
}

/* lfence: the timestamp is taken after the access has completed (RDTSC
 * alone may run ahead of an uncached load). */
static inline uint64_t rdtsc_after(void) {
  __asm__ volatile("lfence" ::: "memory");
  return rdtsc();
}

/* One interrupt round trip: raise, spin with interrupts on until the
 * handler ran or WAIT_MS passed. */
static uint32_t irq_sample(uint32_t i) {
  uint32_t before = irq_count;
  uint64_t deadline = rdtsc() + (uint64_t)WAIT_MS * 1000 * tsc_per_us;
  uint64_t t0 = rdtsc();
  bar_write(REG_IRQ_RAISE, 0x1000 + (i & 0xfff));
  sti();
  while (irq_count == before && rdtsc() < deadline) cpu_relax();
  cli();
  return irq_count != before ? ticks(t0, irq_tsc) : BENCH_LOST;
}

static void idle(uint32_t ms) {
  uint64_t end = rdtsc() + (uint64_t)ms * 1000 * tsc_per_us;
  sti();
  while (rdtsc() < end) cpu_relax();
  cli();
}

/* Runs `count` samples of `op`; returns how many timed out. */
static uint32_t run(char op, uint32_t count) {
  uint32_t lost = 0;
  if (op == 'x') (void)pci_msi_set(dev, 0);
  if (op == 'm') (void)pci_msi_set(dev, VECTOR_MSI);
  for (uint32_t i = 0; i < count; i++) {
    uint64_t t0 = rdtsc();
    switch (op) {
      case 'r':
        (void)bar_read(REG_ID);
        samples[i] = ticks(t0, rdtsc_after());
        break;
      case 'w':
        bar_write(REG_LIVENESS, i);
        samples[i] = ticks(t0, rdtsc_after());
        break;
      default:
        samples[i] = irq_sample(i);
        break;
    }
    if (samples[i] == BENCH_LOST) lost++;
  }
  return lost;
}

static int getc_serial(void) {
  while (!(inb(COM1 + UART_LSR) & LSR_DATA_READY)) cpu_relax();
  return inb(COM1 + UART_RBR);
}

/* Reads "<op><decimal>\n"; returns the op. */
static char read_command(uint32_t *count) {
  int op;
  do op = getc_serial(); while (op == '\n' || op == '\r' || op == ' ');
  uint32_t n = 0;
  for (int c = getc_serial(); c != '\n'; c = getc_serial()) {
    if (c >= '0' && c <= '9' && n < 100000000u) n = n * 10 + (uint32_t)(c - '0');
  }
  *count = n;
  return (char)op;
}

static void print_samples(uint32_t count) {
  for (uint32_t i = 0; i < count; i += 16) {
    print("PT s");
    for (uint32_t j = i; j < count && j < i + 16; j++) print(" %x", samples[j]);
    print("\n");
  }
  print("PT end\n");
}

int guest_main(void) {
  int found = pci_find(EDU_VENDOR, EDU_DEVICE);
  if (found < 0) {
    print("PT error no edu device (1234:11e8) on bus 0; run with --vfio\n");
    return 1;
  }
  dev = (uint8_t)found;
  regs = pci_bar_address(dev, 0);
  if ((pci_read16(dev, 0x04) & 2) == 0 || regs == 0) {
    print("PT error edu BAR0 not assigned with memory decode on\n");
    return 1;
  }
  pci_write16(dev, 0x04, pci_read16(dev, 0x04) | 4);  /* bus master: MSI */
  if (bar_read(REG_ID) != 0x010000ed) {
    print("PT error edu identification register is not 0x010000ed\n");
    return 1;
  }
  timers_init();
  set_handler(VECTOR_INTX, on_irq);
  set_handler(VECTOR_MSI, on_irq);
  uint32_t gsi = 16 + dev % 4;
  ioapic_route(gsi, VECTOR_INTX, lapic_id(), true, false);
  for (;;) {
    print("PT ready\n");
    uint32_t count;
    char op = read_command(&count);
    if (op == 'q') break;
    uint32_t lost = 0;
    if (op == 'i') {
      idle(count);
      count = 0;
    } else if (op == 'r' || op == 'w' || op == 'x' || op == 'm') {
      if (count > MAX_SAMPLES) count = MAX_SAMPLES;
      lost = run(op, count);
    } else {
      print("PT error unknown op '%c'\n", op);
      return 1;
    }
    print("PT done %c n=%u lost=%u accesses=%lu tsc_per_us=%lu\n", op, count,
          lost, accesses, tsc_per_us);
    print_samples(count);
  }
  print("PT bye unexpected=%u spurious=%u empty=%u accesses=%lu\n",
        unexpected_interrupts, spurious_interrupts, empty, accesses);
  return 0;
}
