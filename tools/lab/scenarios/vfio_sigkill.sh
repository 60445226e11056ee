# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_sigkill: microvm killed with SIGKILL while the edu is in use
# (MSI enabled, guest RAM mapped for DMA, a DMA every 10 ms): the kernel
# releases what microvm held when its fds close, so the next microvm takes
# the same device at once and the tiny guest's checks pass.
. "${LAB}/scenarios/_vfio_fault.sh"

run_scenario() {
  log=${WORK}/sigkill.log
  if ! hold_edu "${log}"; then
    sed 's/^/inner| /' "${log}"
    lab_result vfio_sigkill FAIL "the edu guest did not reach its hold loop: $(tail -n 2 "${log}" | tr '\n' ' ')"
    return
  fi
  kill -KILL "${HOLD_PID}"
  wait "${HOLD_PID}"
  status=$?
  sed 's/^/inner| /' "${log}"
  left=$(microvm_left)
  if [ "${status}" != 137 ] || [ -n "${left}" ]; then
    lab_result vfio_sigkill FAIL "killed microvm: status ${status} (want 137), left: '${left}'"
    return
  fi
  edu_run vfio_sigkill irqfd after-sigkill || return
  lab_result vfio_sigkill PASS "edu $(edu_bdf): microvm SIGKILLed mid-DMA; the next microvm took the device at once and its checks passed"
}
