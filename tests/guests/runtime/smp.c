/* SPDX-License-Identifier: Apache-2.0 */
/* Starting application processors with INIT-SIPI-SIPI (SDM Vol. 3A 8.4.4.1,
 * MP spec 1.4 B.4). The BSP starts one AP at a time: the trampoline's data
 * block (one stack, one entry) is reused for each. */
#include "guest.h"

#define AP_TRAMPOLINE 0x8000
#define AP_STACK_SIZE 8192

struct ap_boot_data {  /* matches the data block in trampoline.S */
  uint64_t cr3, cr4, cr0, efer, stack, entry;
};

extern char ap_trampoline_start[], ap_trampoline_end[], ap_trampoline_data[];

static uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
static unsigned next_stack;
static void (*volatile ap_user_entry)(uint32_t);
static volatile uint32_t ap_checked_in;

static void ap_entry(void) {
  idt_load();
  lapic_enable();
  void (*entry)(uint32_t) = ap_user_entry;
  uint32_t id = lapic_id();
  __atomic_store_n(&ap_checked_in, 1, __ATOMIC_RELEASE);
  entry(id);
  for (;;) __asm__ volatile("cli; hlt");
}

bool smp_start_ap(uint8_t apic_id, void (*entry)(uint32_t),
                  uint32_t timeout_ms) {
  if (next_stack >= MAX_CPUS) return false;
  size_t size = (size_t)(ap_trampoline_end - ap_trampoline_start);
  memcpy((void *)AP_TRAMPOLINE, ap_trampoline_start, size);
  struct ap_boot_data *d =
      (void *)(AP_TRAMPOLINE + (ap_trampoline_data - ap_trampoline_start));
  uint64_t v;
  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
  d->cr3 = v;
  __asm__ volatile("mov %%cr4, %0" : "=r"(v));
  d->cr4 = v;
  __asm__ volatile("mov %%cr0, %0" : "=r"(v));
  d->cr0 = v;
  d->efer = rdmsr(0xc0000080) & ~(1ull << 10);  /* LMA is set by the CPU */
  d->stack = (uint64_t)&ap_stacks[next_stack++][AP_STACK_SIZE];
  d->entry = (uint64_t)ap_entry;
  ap_user_entry = entry;
  __atomic_store_n(&ap_checked_in, 0, __ATOMIC_RELEASE);

  /* INIT (level assert), 10 ms, then SIPI twice 200 us apart; the vector is
   * the trampoline's page number. */
  if (!lapic_send_ipi(apic_id, 0x4500)) return false;
  udelay(10000);
  for (int i = 0; i < 2 && !ap_checked_in; i++) {
    if (!lapic_send_ipi(apic_id, 0x4600 | (AP_TRAMPOLINE >> 12))) return false;
    udelay(200);
  }
  uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000;
  while (!__atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE)) {
    if (now_us() >= deadline) return false;
    cpu_relax();
  }
  return true;
}
