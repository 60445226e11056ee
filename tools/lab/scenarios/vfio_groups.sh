# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_groups: IOMMU groups with more than one device (lab.sh puts
# them behind PCIe-to-PCI bridges).
#  - Two edus that share a group, both bound to vfio-pci: passed together
#    (--vfio twice, one container, the group attached once), both show up in
#    the inner Linux.
#  - An edu whose group also holds a pci-serial bound to Linux's serial
#    driver: the group is not viable, and microvm says so in one line naming
#    the other device, with status != 0.
run_scenario() {
  pair="" bad=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1234:11e8 ] || continue
    group=$(pci_group "${d}")
    members=$(ls "/sys/kernel/iommu_groups/${group}/devices")
    edus=0 foreign=0
    for m in ${members}; do
      if [ "$(pci_id "/sys/bus/pci/devices/${m}")" = 1234:11e8 ]; then
        edus=$((edus + 1))
      elif [ "$(pci_driver "/sys/bus/pci/devices/${m}")" != - ]; then
        foreign=1
      fi
    done
    if [ "${edus}" = 2 ] && [ -z "${pair}" ]; then
      for m in ${members}; do
        [ "$(pci_id "/sys/bus/pci/devices/${m}")" = 1234:11e8 ] && pair="${pair} --vfio ${m}"
      done
    elif [ "${foreign}" = 1 ]; then
      bad=${d##*/}
    fi
  done
  [ -n "${pair}" ] || { lab_result vfio_groups FAIL "no IOMMU group with two edus in the lab"; return; }
  [ -n "${bad}" ] || { lab_result vfio_groups FAIL "no edu in a group with a device on another driver"; return; }

  "${MICROVM}" --kernel "${INNER_KERNEL}" --initrd "${INNER_INITRD}" --mem 128 \
    --vfio "${bad}" </dev/null >"${WORK}/out" 2>"${WORK}/err"
  status=$?
  echo "LAB-AGENT: --vfio ${bad}: status ${status}: $(cat "${WORK}/err")"
  if [ "${status}" = 0 ] || [ "$(grep -c . "${WORK}/err")" != 1 ] ||
     ! grep -q 'not viable' "${WORK}/err" || ! grep -q serial "${WORK}/err"; then
    lab_result vfio_groups FAIL "--vfio ${bad} (group not viable): status ${status}: $(head -c 300 "${WORK}/err")"
    return
  fi

  INNER_EXTRA_ARGS="${pair}"
  inner_boot --mem 128 --timeout 120 --cmd 'grep -l 0x11e8 /sys/bus/pci/devices/*/device | wc -l'
  INNER_EXTRA_ARGS=""
  inner_check_booted vfio_groups || return
  if [ "$(head -n 1 "${INNER_OUT}")" != 2 ]; then
    lab_result vfio_groups FAIL "inner guest sees $(head -n 1 "${INNER_OUT}") edus, want 2 (${pair})"
    return
  fi
  lab_result vfio_groups PASS "two devices of one group passed together (${pair}); non-viable group of ${bad} refused"
}
