# SPDX-License-Identifier: Apache-2.0
# Scenario cmd: runs LAB_CMD (lab.sh --cmd '...') in the inner guest and
# passes when it exits 0. LAB_CPUS / LAB_MEM choose the inner machine.
run_scenario() {
  if [ -z "${LAB_CMD:-}" ]; then
    lab_result cmd FAIL "no command: give one with lab.sh --cmd '...'"
    return
  fi
  inner_boot --cpus "${LAB_CPUS:-1}" --mem "${LAB_MEM:-256}" --cmd "${LAB_CMD}"
  inner_check_booted cmd || return
  if [ "${INNER_CMD_STATUS}" = 0 ]; then
    lab_result cmd PASS "inner command exited 0; inner_init_s=${INNER_INIT_S}"
  else
    lab_result cmd FAIL "inner command exited '${INNER_CMD_STATUS}' (empty: never finished)"
  fi
}
