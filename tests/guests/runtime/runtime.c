/* SPDX-License-Identifier: Apache-2.0 */
/* Runtime start-up, the IDT and exception reporting, power control. */
#include "guest.h"

const uint8_t *boot_params;
volatile uint32_t unexpected_interrupts;
volatile uint32_t spurious_interrupts;

/* 64-bit interrupt gate (SDM Vol. 3A 6.14.1). */
struct idt_entry {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));

struct idt_ptr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

extern char isr_stubs[];
static struct idt_entry idt[256] __attribute__((aligned(16)));
static isr_handler handlers[256];

/* Linker-script symbols and a .bss probe: the loader must zero memsz beyond
 * filesz of each PT_LOAD segment. */
extern char __bss_start[], __bss_end[];
static volatile uint64_t bss_probe[64];

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM no math coprocessor",
    "#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
    "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check",
    "#MC machine check", "#XM SIMD exception", "#VE virtualization",
    "#CP control protection"};

static void raw_puts(const char *s) {
  for (; *s; s++) {
    if (*s == '\n') console_putc('\r');
    console_putc(*s);
  }
}

/* Called from vectors.S with interrupts off. */
void isr_dispatch(struct isr_frame *f) {
  uint8_t v = (uint8_t)f->vector;
  if (handlers[v]) {
    handlers[v](f);
    return;
  }
  if (v == VECTOR_SPURIOUS) {  /* no EOI for spurious (SDM 10.9) */
    spurious_interrupts++;
    return;
  }
  if (v < 32) {
    /* An unexpected exception ends the test: say where, bypassing the
     * console lock (the faulting code may hold it). */
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    char line[160];
    snprint(line, sizeof(line),
            "FAIL exception %u (%s) rip=%lx err=%lx cr2=%lx rsp=%lx\n", v,
            exception_names[v] ? exception_names[v] : "reserved", f->rip,
            f->error, cr2, f->rsp);
    raw_puts(line);
    power_off();
  }
  unexpected_interrupts++;
  lapic_eoi();
}

void set_handler(uint8_t vector, isr_handler handler) {
  handlers[vector] = handler;
}

void idt_load(void) {
  struct idt_ptr p = {sizeof(idt) - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" : : "m"(p));
}

static void idt_init(void) {
  for (int v = 0; v < 256; v++) {
    uint64_t a = (uint64_t)isr_stubs + 16 * (uint64_t)v;
    idt[v] = (struct idt_entry){
        .offset_low = (uint16_t)a,
        .selector = 0x10,
        .ist = 0,
        .type_attr = 0x8e,  /* present, DPL 0, 64-bit interrupt gate */
        .offset_mid = (uint16_t)(a >> 16),
        .offset_high = (uint32_t)(a >> 32),
        .reserved = 0,
    };
  }
  idt_load();
}

/* Remaps the 8259A pair away from the exception vectors (ICW2 = 0x20/0x28)
 * and masks every line: the tests use the IOAPIC, and an unprogrammed PIC
 * would deliver IRQ0 on vector 8. */
static void pic_mask_all(void) {
  outb(0x20, 0x11);
  outb(0xa0, 0x11);
  outb(0x21, 0x20);
  outb(0xa1, 0x28);
  outb(0x21, 0x04);
  outb(0xa1, 0x02);
  outb(0x21, 0x01);
  outb(0xa1, 0x01);
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
}

__attribute__((noreturn)) void power_off(void) {
  cli();
  outb(0x3c0, 0x34);
  /* Still running: the VMM ignored the request. Say so, then halt for good
   * (the test's timeout reports the rest). */
  raw_puts("FAIL power-off request (0x34 to port 0x3c0) was ignored\n");
  for (;;) __asm__ volatile("hlt");
}

__attribute__((noreturn)) void reset_vm(void) {
  cli();
  outb(0x64, 0xfe);
  raw_puts("FAIL reset request (0xfe to port 0x64) was ignored\n");
  for (;;) __asm__ volatile("hlt");
}

__attribute__((noreturn)) void runtime_start(const uint8_t *zero_page) {
  boot_params = zero_page;
  serial_init();
  idt_init();
  pic_mask_all();
  for (unsigned i = 0; i < sizeof(bss_probe) / sizeof(bss_probe[0]); i++) {
    if (bss_probe[i]) {
      print("FAIL loader: .bss (%p-%p) was not zero-filled\n", __bss_start,
            __bss_end);
      power_off();
    }
  }
  guest_main();
  if (unexpected_interrupts) {
    print("note: %u interrupt(s) on vectors without a handler\n",
          unexpected_interrupts);
  }
  power_off();
}
