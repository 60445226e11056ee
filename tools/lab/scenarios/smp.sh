# SPDX-License-Identifier: Apache-2.0
# Scenario smp: microvm --cpus 2 gives the inner guest two online CPUs.
# Needs ACPI (MADT): Debian's cloud kernel has no MP-table parser
# (CONFIG_X86_MPPARSE unset), so without it the guest sees one CPU.
run_scenario() {
  inner_boot --cpus 2 --cmd 'nproc; grep -c ^processor /proc/cpuinfo'
  inner_check_booted smp || return
  if [ "${INNER_NPROC}" = 2 ] && [ "$(head -n 1 "${INNER_OUT}")" = 2 ]; then
    lab_result smp PASS "nproc=2 inner_init_s=${INNER_INIT_S}"
  else
    lab_result smp FAIL "inner guest started with --cpus 2 reports nproc=${INNER_NPROC:-?} (MADT missing?)"
  fi
}
