# SPDX-License-Identifier: Apache-2.0
# Scenario devices: the lab machine's passthrough devices (edu, ivshmem,
# nvme) each sit alone in their own IOMMU group, are bound to vfio-pci (the
# agent bound them before the scenarios ran) and have /dev/vfio/<group>,
# which opens. No inner guest.
run_scenario() {
  [ -c /dev/vfio/vfio ] || { lab_result devices FAIL "no /dev/vfio/vfio (vfio modules not loaded?)"; return; }
  for want in 1234:11e8 1af4:1110 1b36:0010; do
    name=$(pci_name "${want}") found=""
    for d in /sys/bus/pci/devices/*; do
      [ "$(pci_id "${d}")" = "${want}" ] && found=${d} && break
    done
    if [ -z "${found}" ]; then
      lab_result devices FAIL "${name} (${want}) not on the lab machine's PCI bus"
      continue
    fi
    group=$(pci_group "${found}")
    members=$(ls "/sys/kernel/iommu_groups/${group}/devices" 2>/dev/null | tr '\n' ' ')
    if [ "${group}" = none ]; then
      lab_result devices FAIL "${name} ${found##*/} has no IOMMU group (intel-iommu off?)"
    elif [ "${members}" != "${found##*/} " ]; then
      lab_result devices FAIL "${name} ${found##*/} shares group ${group} with: ${members}"
    elif [ "$(pci_driver "${found}")" != vfio-pci ]; then
      lab_result devices FAIL "${name} ${found##*/} is bound to $(pci_driver "${found}"), not vfio-pci"
    elif ! [ -c "/dev/vfio/${group}" ] || ! : <>"/dev/vfio/${group}"; then
      lab_result devices FAIL "${name} ${found##*/}: /dev/vfio/${group} missing or does not open"
    else
      lab_result devices PASS "${name} ${found##*/} group=${group} vfio-pci /dev/vfio/${group}"
    fi
  done
}
