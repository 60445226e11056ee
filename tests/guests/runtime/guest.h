// SPDX-License-Identifier: Apache-2.0
/* The runtime shared by microvm's tiny test guests: port and MMIO access,
 * a polled COM1 console with a small printf, the IDT, LAPIC, IOAPIC and PIT,
 * a calibrated clock, bounded interrupt waits, MP table parsing and AP
 * start-up. Freestanding C11; no libc.
 *
 * Every guest defines `int guest_main(void)`. The runtime sets up the console,
 * its GDT and IDT and masks the legacy PIC before calling it, and powers the
 * VM off when it returns. Guests print one result line, "PASS <name>" or
 * "FAIL <name>: <why>", which the tests look for. */
#ifndef MICROVM_TESTS_GUESTS_RUNTIME_GUEST_H_
#define MICROVM_TESTS_GUESTS_RUNTIME_GUEST_H_

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int guest_main(void);

/* ---- CPU and port I/O ---- */

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* MMIO with exactly one access of the named width (a plain volatile
 * dereference may legally be split or merged by the compiler). */
static inline void mmio_write8(uint64_t a, uint8_t v) {
  __asm__ volatile("movb %0, (%1)" : : "q"(v), "r"(a) : "memory");
}
static inline void mmio_write16(uint64_t a, uint16_t v) {
  __asm__ volatile("movw %0, (%1)" : : "r"(v), "r"(a) : "memory");
}
static inline void mmio_write32(uint64_t a, uint32_t v) {
  __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(a) : "memory");
}
static inline void mmio_write64(uint64_t a, uint64_t v) {
  __asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(a) : "memory");
}
static inline uint8_t mmio_read8(uint64_t a) {
  uint8_t v;
  __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(a) : "memory");
  return v;
}
static inline uint16_t mmio_read16(uint64_t a) {
  uint16_t v;
  __asm__ volatile("movw (%1), %0" : "=r"(v) : "r"(a) : "memory");
  return v;
}
static inline uint32_t mmio_read32(uint64_t a) {
  uint32_t v;
  __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(a) : "memory");
  return v;
}
static inline uint64_t mmio_read64(uint64_t a) {
  uint64_t v;
  __asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(a) : "memory");
  return v;
}

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* STI's one-instruction interrupt shadow makes "check, then sti; hlt" free of
 * the race where the interrupt arrives between the check and the HLT. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v),
                   "d"((uint32_t)(v >> 32)));
}

/* xorshift64 (Marsaglia 2003): the deterministic PRNG of the hostile guests,
 * so a failing storm replays the same accesses. `*state` must not be 0. */
static inline uint64_t xorshift64(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* ---- Console (COM1, polled) ---- */

#define COM1 0x3f8

void serial_init(void);
void console_putc(char c);
/* Prints under a spinlock, so APs can print too; not from interrupt
 * handlers. Supports %d %i %u %x %p %s %c with an optional l/ll. */
void print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char *fmt, va_list ap);
int snprint(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Power ---- */

/* ACPI hardware-reduced sleep control register (ACPI 6.4 4.8.3.7): SLP_TYP=5
 * (S5) in bits 4:2 and SLP_EN in bit 5 = 0x34 at I/O port 0x3c0. */
__attribute__((noreturn)) void power_off(void);
/* i8042 "pulse reset line" command (0xfe to port 0x64). */
__attribute__((noreturn)) void reset_vm(void);

/* ---- Interrupts ---- */

struct isr_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss;  /* pushed by the CPU */
};
typedef void (*isr_handler)(struct isr_frame *frame);

#define VECTOR_RESCUE 0xf0   /* LAPIC timer rescue in wait_until() */
#define VECTOR_SPURIOUS 0xff /* LAPIC spurious-interrupt vector */

/* Installs a handler for a vector (guests use 0x20-0xef). Handlers of
 * external interrupts must call lapic_eoi(). */
void set_handler(uint8_t vector, isr_handler handler);
/* Loads the shared IDT on the calling CPU (APs call it on their own). */
void idt_load(void);
/* Interrupts on vectors without a handler, counted for the result line. */
extern volatile uint32_t unexpected_interrupts;
extern volatile uint32_t spurious_interrupts;

/* ---- LAPIC (xAPIC MMIO; SDM Vol. 3A chapter 10) ---- */

void lapic_enable(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t value);
void lapic_timer_oneshot(uint8_t vector, uint32_t us);
void lapic_timer_periodic(uint8_t vector, uint32_t period_us);
void lapic_timer_stop(void);
/* Sends an IPI (ICR low word: vector, delivery mode, level) to `apic_id` and
 * waits (bounded) for the delivery-status bit to clear. False on timeout. */
bool lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);

/* ---- IOAPIC (82093AA datasheet 3.2.4) ---- */

#define IOAPIC_DEFAULT_ADDR 0xfec00000u
uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t value);
/* Routes `pin` to `vector` on `dest_apic` (fixed, physical destination). */
void ioapic_route(uint32_t pin, uint8_t vector, uint32_t dest_apic,
                  bool level_triggered, bool active_low);
void ioapic_mask(uint32_t pin);
/* Number of redirection entries, from the version register. */
uint32_t ioapic_pins(void);

/* ---- PIT (i8254) ---- */

#define PIT_HZ 1193182u
/* Channel 0, mode 2 (rate generator) at about `hz` interrupts a second. */
void pit_periodic(uint32_t hz);
void pit_stop(void);

/* ---- Time ---- */

/* Measures the TSC and LAPIC timer rates against the PIT (10 ms) and
 * enables this CPU's LAPIC. Needed by everything below; idempotent. */
void timers_init(void);
extern uint64_t tsc_per_us;
extern uint64_t lapic_per_us;
uint64_t now_us(void);
void udelay(uint64_t us);

/* ---- Bounded waits ---- */

/* Waits with interrupts enabled until done(arg) is true or `timeout_ms`
 * passes, halting between interrupts. A one-shot LAPIC timer (VECTOR_RESCUE,
 * every RESCUE_US) is armed around each HLT so a lost wake-up cannot hang the
 * guest (see ENVIRONMENT.md: sti;hlt can miss a wake-up in nested KVM).
 * Returns false on timeout. Not for guests that own the LAPIC timer. */
#define RESCUE_US 10000
bool wait_until(bool (*done)(void *arg), void *arg, uint32_t timeout_ms);
struct wait_stats {
  uint32_t waits;          /* wait_until() calls */
  uint32_t timer_wakeups;  /* HLTs ended by the rescue timer */
  uint32_t rescued;        /* ...after which the awaited event had happened:
                              its interrupt did not wake the CPU itself */
  uint32_t lost;           /* waits that timed out */
};
extern struct wait_stats wait_stats;
/* "waits=N timer_wakeups=T rescued=R lost=L" */
void print_wait_stats(void);

/* Checks (runtime/check.c): check_fail prints "FAIL <name>: ..." and counts. */
void check_begin(const char *name);
void check_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int check_failures(void);

/* Interrupts counted per vector by the guest's handlers, and a bounded wait
 * (wait_until, 3 s) for the `count`-th on `vector`; false if it never came. */
extern volatile uint32_t irq_hits[256];
bool wait_for_irq(uint8_t vector, uint32_t count);
#define CHECK_EQ(what, got, want)                                          \
  do {                                                                     \
    uint64_t g_ = (got), w_ = (want);                                      \
    if (g_ != w_) check_fail("%s: got 0x%lx, want 0x%lx", what, g_, w_);   \
  } while (0)

/* ---- MP tables (Intel MultiProcessor Specification 1.4, chapter 4) ---- */

#define MAX_CPUS 16
struct mp_info {
  uint32_t ncpus;
  uint8_t apic_ids[MAX_CPUS];  /* enabled processors, in table order */
  uint8_t bsp_apic_id;
  uint32_t lapic_addr;
  uint8_t ioapic_id;
  uint32_t ioapic_addr;
  /* For each ISA IRQ: the IOAPIC pin it is wired to (-1: no entry), and the
   * entry's polarity/trigger flags (MP 1.4 table 4-10, 0 = bus default). */
  int8_t isa_irq_pin[16];
  uint16_t isa_irq_flags[16];
};
/* Finds and checks (signatures, checksums) the tables; fills `info`.
 * Returns NULL or a message saying what is wrong. */
const char *mp_parse(struct mp_info *info);

/* ---- Application processors ---- */

/* Starts the AP with `apic_id` with INIT-SIPI-SIPI; it enters long mode,
 * loads the IDT, enables its LAPIC and calls entry(apic_id) on its own stack
 * (then halts if entry returns). Returns true once the AP reached C code,
 * false if it did not within `timeout_ms`. */
bool smp_start_ap(uint8_t apic_id, void (*entry)(uint32_t apic_id),
                  uint32_t timeout_ms);

/* ---- Zero page ---- */

/* RSI at entry: struct boot_params (Linux boot protocol, zero-page.rst). */
extern const uint8_t *boot_params;

#endif  /* MICROVM_TESTS_GUESTS_RUNTIME_GUEST_H_ */

/* ---- PCI configuration access (runtime/pci.c; link it into PCI guests) ----
 *
 * Bus 0 only. Mechanism #1 (CONFIG_ADDRESS 0xCF8 / CONFIG_DATA 0xCFC, PCI
 * Local Bus 3.0 3.2.2.3.2) reaches registers 0-0xff; ECAM (PCIe 3.0 7.2.2)
 * at PCI_ECAM_BASE reaches the whole 4 KiB. `size` is 1, 2 or 4 and the
 * access must not cross a dword. */
#define PCI_ECAM_BASE 0xe0000000ull
enum pci_mech { PCI_CF8, PCI_ECAM };
uint32_t pci_read(enum pci_mech mech, uint8_t dev, uint8_t fn, uint16_t reg,
                  int size);
void pci_write(enum pci_mech mech, uint8_t dev, uint8_t fn, uint16_t reg,
               int size, uint32_t value);
/* ECAM shorthands for function 0. */
uint32_t pci_read32(uint8_t dev, uint16_t reg);
uint16_t pci_read16(uint8_t dev, uint16_t reg);
uint8_t pci_read8(uint8_t dev, uint16_t reg);
void pci_write32(uint8_t dev, uint16_t reg, uint32_t value);
void pci_write16(uint8_t dev, uint16_t reg, uint16_t value);
/* The slot of the first function 0 with these IDs, or -1. */
int pci_find(uint16_t vendor, uint16_t device);
/* Offset of capability `id` (a bounded walk of the list), or 0. */
uint8_t pci_find_cap(uint8_t dev, uint8_t id);
/* Programs MSI (capability 0x05) of `dev` for one vector, `vector`, fixed
 * delivery to this CPU's LAPIC, and enables it (32- and 64-bit message
 * address alike); or, with vector 0, disables it. The capability's offset,
 * or 0 if the function has none. */
uint8_t pci_msi_set(uint8_t dev, uint8_t vector);
/* The address BAR `index` decodes at (memory or I/O, 64-bit aware). */
uint64_t pci_bar_address(uint8_t dev, int index);
/* Writes `address` to BAR `index` (and the upper half of a 64-bit BAR). */
void pci_set_bar(uint8_t dev, int index, uint64_t address);
/* Maps guest-physical [4 GiB, 5 GiB) identity, uncached, as 2 MiB pages
 * (the VMM's boot page tables map only the first 4 GiB). */
void map_5th_gib(void);

/* ---- Hostile-guest helpers (hostile.c; link it into hostile_* guests) ----
 *
 * Raw configuration access to any bus/device/function, with no alignment
 * rules (the hostile guests want the accesses runtime/pci.c refuses to
 * make), and a RAM canary: a buffer filled from a PRNG that the guest checks
 * after each storm, so RAM that a BAR shadowed or that a storm corrupted is
 * noticed. */
uint64_t ecam_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t reg);
uint32_t cf8_addr(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t reg);
/* One MMIO access of `size` (1, 2, 4 or 8) bytes: a read returns the value,
 * a write stores `value` and returns 0. */
uint64_t mmio_access(uint64_t addr, int size, bool write, uint64_t value);
/* One port access of `size` (1, 2 or 4) bytes, likewise. */
uint32_t pio_access(uint16_t port, int size, bool write, uint32_t value);
/* Fills the canary (and two words of low RAM the VMM does not use) from a
 * fixed seed; canary_ok() says whether every byte still reads back. */
void canary_fill(void);
bool canary_ok(const char *when);
/* Guest-physical address of the canary buffer (4 KiB aligned). */
uint64_t canary_address(void);
