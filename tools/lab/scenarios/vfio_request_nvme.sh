# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_request_nvme: as vfio_request_edu, with the inner Linux
# reading the passed-through nvme in a loop when the host unbinds it: microvm
# ends (status 3, one line naming the device), the unbind returns within
# 30 s, no microvm is left; the nvme goes back to vfio-pci afterwards.
. "${LAB}/scenarios/_vfio_fault.sh"

run_scenario() {
  bdf=$(pci_first 1b36:0010)
  [ -n "${bdf}" ] || { lab_result vfio_request_nvme FAIL "no nvme device (1b36:0010)"; return; }
  rm -f "${WORK}/unbind-result"
  # inner_boot's console log, empty before the taker starts watching it.
  : >"${WORK}/console.log"
  # Once the inner init runs its command (the read loop), take the device.
  (
    console_wait 'reading nvme0n1'
    sleep 2
    unbind_timed "${bdf}"
    echo "${UNBIND_OK} ${UNBIND_S}" >"${WORK}/unbind-result"
  ) &
  taker=$!
  INNER_EXTRA_ARGS="--vfio ${bdf}"
  inner_boot --mem 256 --timeout 150 --cmd 'echo reading nvme0n1; while true; do dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=64 2>/dev/null; sleep 0.2; done'
  INNER_EXTRA_ARGS=""
  wait "${taker}"
  ok=0 secs=""
  read -r ok secs <"${WORK}/unbind-result" 2>/dev/null
  left=$(microvm_left)
  line=$(grep -c "microvm: the host is taking PCI device ${bdf} back" "${INNER_LOG}")
  rebind "${bdf}"
  if [ "${ok:-0}" != 1 ] || [ "${INNER_STATUS}" != 3 ] || [ "${line}" != 1 ] || [ -n "${left}" ]; then
    lab_result vfio_request_nvme FAIL "unbind returned: ${ok:-0} after ${secs:-?} s; microvm status ${INNER_STATUS} (want 3); request line ${line} time(s); microvm left: '${left}'"
    return
  fi
  lab_result vfio_request_nvme PASS "nvme ${bdf} unbound while the inner Linux read it: microvm ended (status 3, one line), the unbind returned after ${secs} s"
}
