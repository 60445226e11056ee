# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_request_edu: the host takes a passed-through device back
# while a guest uses it. The edu tiny guest runs its checks, then keeps the
# device busy (DMA and MSI every 10 ms); the agent unbinds the edu from
# vfio-pci. vfio-pci relays that as its device request interrupt; microvm
# must end the VM with one line naming the device and exit status 3, and
# release the device so the unbind returns (within 30 s; a VMM that ignores
# the request leaves it hanging). No microvm process may be left. Then the
# edu goes back to vfio-pci and passes the tiny guest's checks again.
. "${LAB}/scenarios/_vfio_fault.sh"

run_scenario() {
  log=${WORK}/request-edu.log
  if ! hold_edu "${log}"; then
    sed 's/^/inner| /' "${log}"
    lab_result vfio_request_edu FAIL "the edu guest did not reach its hold loop: $(tail -n 2 "${log}" | tr '\n' ' ')"
    return
  fi
  bdf=$(edu_bdf)
  unbind_timed "${bdf}"
  wait "${HOLD_PID}"
  status=$?
  sed 's/^/inner| /' "${log}"
  left=$(microvm_left)
  line=$(grep -c "microvm: the host is taking PCI device ${bdf} back" "${log}")
  rebind "${bdf}"
  if [ "${UNBIND_OK}" != 1 ] || [ "${status}" != 3 ] || [ "${line}" != 1 ] || [ -n "${left}" ]; then
    lab_result vfio_request_edu FAIL "unbind returned: ${UNBIND_OK} after ${UNBIND_S} s; microvm status ${status} (want 3); request line ${line} time(s); microvm left: '${left}'"
    return
  fi
  edu_run vfio_request_edu irqfd after-unbind || return
  lab_result vfio_request_edu PASS "edu ${bdf} unbound from vfio-pci while in use: microvm ended (status 3, one line) and the unbind returned after ${UNBIND_S} s; the edu works again after rebinding"
}
