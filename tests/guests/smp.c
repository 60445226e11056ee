/* SPDX-License-Identifier: Apache-2.0 */
/* SMP bring-up: the BSP finds the processors in the MP table and starts each
 * AP with INIT-SIPI-SIPI; every AP reaches long mode through the trampoline
 * and checks in. Prints, besides one line per AP,
 *   smp: cpus=N online=M
 *   PASS smp | FAIL smp: <why> */
#include "guest.h"

static volatile uint32_t online = 1;  /* the BSP */
static volatile uint8_t checked_in[256];

static void ap_main(uint32_t apic_id) {
  uint16_t cs;
  __asm__ volatile("mov %%cs, %0" : "=r"(cs));
  bool long_mode = (rdmsr(0xc0000080) >> 10) & 1;  /* EFER.LMA */
  print("smp: AP apic_id=%u %s (cs=%x)\n", apic_id,
        long_mode ? "in long mode" : "NOT in long mode", cs);
  if (long_mode && apic_id < 256) checked_in[apic_id] = 1;
  __atomic_add_fetch(&online, 1, __ATOMIC_SEQ_CST);
}

int guest_main(void) {
  struct mp_info mp;
  const char *err = mp_parse(&mp);
  if (err) {
    print("FAIL smp: MP table: %s\n", err);
    return 1;
  }
  timers_init();
  uint32_t bsp = lapic_id();
  print("smp: BSP apic_id=%u, MP table lists %u cpus\n", bsp, mp.ncpus);
  const char *why = NULL;
  if (mp.bsp_apic_id != bsp) why = "the MP table's BP flag names another CPU";
  for (uint32_t i = 0; i < mp.ncpus; i++) {
    if (mp.apic_ids[i] != i) why = "APIC ids are not the vCPU indexes 0..N-1";
    if (mp.apic_ids[i] == bsp) continue;
    if (!smp_start_ap(mp.apic_ids[i], ap_main, 2000)) {
      print("smp: AP apic_id=%u did not start within 2 s\n", mp.apic_ids[i]);
      why = "an AP did not start";
    }
  }
  /* Each AP prints its line (one exit per byte) before it counts itself
   * online; under valgrind in the nested machine that alone can take seconds,
   * so wait generously: a passing run ends the wait as soon as all are in. */
  uint64_t deadline = now_us() + 20000000;
  while (online < mp.ncpus && now_us() < deadline) cpu_relax();
  uint32_t n = online;
  print("smp: cpus=%u online=%u\n", mp.ncpus, n);
  for (uint32_t i = 0; i < mp.ncpus; i++) {
    if (mp.apic_ids[i] != bsp && !checked_in[mp.apic_ids[i]]) {
      why = "an AP did not check in from long mode";
    }
  }
  if (!why && n != mp.ncpus) why = "not every CPU came online";
  if (why) {
    print("FAIL smp: %s\n", why);
    return 1;
  }
  print("PASS smp\n");
  return 0;
}
