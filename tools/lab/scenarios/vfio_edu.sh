# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_edu: QEMU's edu device (1234:11e8) passed through to a tiny
# guest (tests/guests/edu.c) with `microvm --vfio <bdf>`: BAR0 registers
# through the memslot-mapped BAR (microvm must report zero trapped BAR0
# accesses), the factorial unit, INTx through the resampling irqfd, MSI, and
# DMA into guest RAM through the IOMMU. Run twice in a row on the same
# device: the second VM finds it working after the first one's teardown.
#
# Needs the guest in the lab machine at ${LAB_GUESTS:-/lab/guests}/edu.elf
# (lab.sh ships bazel-bin/tests/guests there).
edu_bdf() { pci_first 1234:11e8; }

# edu_run NAME INTX-MODE RUN: one microvm run; sets EDU_LOG, returns 1 after
# reporting FAIL.
edu_run() {
  _name=$1 _mode=$2 _run=$3
  guest=${LAB_GUESTS:-/lab/guests}/edu.elf
  [ -s "${guest}" ] || { lab_result "${_name}" FAIL "no guest ${guest} (lab.sh must ship tests/guests)"; return 1; }
  bdf=$(edu_bdf)
  [ -n "${bdf}" ] || { lab_result "${_name}" FAIL "no edu device (1234:11e8)"; return 1; }
  EDU_LOG=${WORK}/edu-${_mode}-${_run}.log
  echo "LAB-AGENT: microvm --kernel edu.elf --mem 64 --vfio ${bdf} --vfio_intx=${_mode} (run ${_run})"
  timeout 120 "${MICROVM}" --kernel "${guest}" --mem 64 --vfio "${bdf}" \
    --vfio_intx="${_mode}" >"${EDU_LOG}" 2>&1
  _status=$?
  sed 's/^/inner| /' "${EDU_LOG}"
  if ! grep -q '^PASS edu' "${EDU_LOG}"; then
    why=$(grep -m1 -E '^FAIL|microvm:' "${EDU_LOG}" | cut -c1-200)
    lab_result "${_name}" FAIL "run ${_run}: status ${_status}: ${why:-no PASS line}"
    return 1
  fi
  return 0
}

# The BAR0 trap count microvm prints when the device goes away.
edu_bar0_traps() {
  sed -n 's/.*trapped BAR accesses:.*BAR0=\([0-9]*\).*/\1/p' "${EDU_LOG}" | head -n 1
}

run_scenario() {
  for run in 1 2; do
    edu_run vfio_edu irqfd "${run}" || return
    if ! grep -q 'edu: unexpected=0 spurious=0 empty=0' "${EDU_LOG}"; then
      lab_result vfio_edu FAIL "run ${run}: stray interrupts: $(grep 'edu: unexpected=' "${EDU_LOG}")"
      return
    fi
    traps=$(edu_bar0_traps)
    if [ "${traps}" != 0 ]; then
      lab_result vfio_edu FAIL "run ${run}: BAR0 accesses trapped: '${traps:-no count printed}' (want 0: BAR0 is a memslot)"
      return
    fi
  done
  lab_result vfio_edu PASS "edu $(edu_bdf): registers via memslot (0 BAR0 exits), factorial, INTx (irqfd+resample), MSI, DMA; twice"
}
