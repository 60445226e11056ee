# SPDX-License-Identifier: Apache-2.0
# Scenario reboot: the inner init's "reboot -f" (reboot=k: i8042 reset
# pulse) ends microvm with status 0.
run_scenario() {
  inner_boot --cpus 1 --end reboot --grace 10
  inner_check_booted reboot || return
  if [ "${INNER_KILLED_AFTER_END}" = 1 ]; then
    lab_result reboot FAIL "inner 'reboot -f' did not end microvm within 10 s"
  elif [ "${INNER_STATUS}" != 0 ]; then
    lab_result reboot FAIL "microvm exited ${INNER_STATUS} after the inner reboot"
  else
    lab_result reboot PASS "microvm exited 0 after the inner reboot; wall ${INNER_WALL_S} s"
  fi
}
