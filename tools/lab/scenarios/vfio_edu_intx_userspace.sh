# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_edu_intx_userspace: as vfio_edu, with INTx through the VMM
# (`--vfio_intx=userspace`): microvm raises the line from the INTx eventfd,
# turns BAR0's memslot off so the driver's acknowledging access traps, then
# lowers the line and unmasks; the memslot comes back after the quiet
# timeout. BAR0 accesses trap around each interrupt, so the count is > 0.
. "${LAB}/scenarios/vfio_edu.sh"

run_scenario() {
  edu_run vfio_edu_intx_userspace userspace 1 || return
  traps=$(edu_bar0_traps)
  if [ -z "${traps}" ] || [ "${traps}" = 0 ]; then
    lab_result vfio_edu_intx_userspace FAIL "BAR0 trapped ${traps:-no count printed} accesses; the userspace INTx path should trap the acknowledge"
    return
  fi
  lab_result vfio_edu_intx_userspace PASS "edu $(edu_bdf): INTx through the VMM (${traps} BAR0 accesses trapped), MSI, DMA"
}
