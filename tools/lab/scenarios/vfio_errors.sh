# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_errors: what a user gets for a device microvm cannot take.
# A function that exists but is not bound to vfio-pci (the lab machine's own
# SATA controller, which no driver has taken) and an address that does not exist
# each end microvm at once with status != 0 and ONE stderr line that says
# what is wrong and what to do (for the first: how to bind it to vfio-pci).
run_scenario() {
  other=""
  for d in /sys/bus/pci/devices/*; do
    if [ "$(pci_driver "${d}")" != vfio-pci ] && [ "${d##*/}" != 0000:00:00.0 ]; then
      other=${d##*/}
      break
    fi
  done
  [ -n "${other}" ] || { lab_result vfio_errors FAIL "no device outside vfio-pci in the lab"; return; }
  for case in "${other}:vfio-pci/bind" "0000:00:1e.7:lspci"; do
    bdf=${case%:*} want=${case##*:}
    "${MICROVM}" --kernel "${INNER_KERNEL}" --initrd "${INNER_INITRD}" --mem 128 \
      --vfio "${bdf}" </dev/null >"${WORK}/out" 2>"${WORK}/err"
    status=$?
    lines=$(grep -c . "${WORK}/err")
    echo "LAB-AGENT: --vfio ${bdf}: status ${status}: $(cat "${WORK}/err")"
    if [ "${status}" = 0 ] || [ "${lines}" != 1 ] || ! grep -q "${want}" "${WORK}/err"; then
      lab_result vfio_errors FAIL "--vfio ${bdf}: status ${status}, ${lines} stderr lines, want '${want}' in: $(head -c 300 "${WORK}/err")"
      return
    fi
  done
  lab_result vfio_errors PASS "${other} (driver $(pci_driver "/sys/bus/pci/devices/${other}")) and a missing address both refused with one clear line"
}
