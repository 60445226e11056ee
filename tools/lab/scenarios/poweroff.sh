# SPDX-License-Identifier: Apache-2.0
# Scenario poweroff: the inner init's "poweroff -f" ends microvm with status
# 0. Needs ACPI (FADT sleep registers, DSDT _S5); until then the guest only
# halts and the agent kills microvm 10 s after the guest said it was ending.
run_scenario() {
  inner_boot --cpus 1 --end poweroff --grace 10
  inner_check_booted poweroff || return
  if [ "${INNER_KILLED_AFTER_END}" = 1 ]; then
    lab_result poweroff FAIL "inner 'poweroff -f' did not end microvm within 10 s (guest halted instead; ACPI power-off missing?)"
  elif [ "${INNER_STATUS}" != 0 ]; then
    lab_result poweroff FAIL "microvm exited ${INNER_STATUS} after the inner poweroff"
  else
    lab_result poweroff PASS "microvm exited 0 after the inner poweroff; wall ${INNER_WALL_S} s"
  fi
}
