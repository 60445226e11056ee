# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_nvme: QEMU's nvme (1b36:0010) passed through to the inner
# Linux with `microvm --vfio <bdf>`: the nvme driver binds, finds the
# namespace, and its MSI-X interrupts count up in /proc/interrupts after a
# read from the disk. Needs agent.sh's inner_boot to put INNER_EXTRA_ARGS on
# microvm's command line.
run_scenario() {
  bdf=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1b36:0010 ] && bdf=${d##*/} && break
  done
  [ -n "${bdf}" ] || { lab_result vfio_nvme FAIL "no nvme device (1b36:0010)"; return; }
  INNER_EXTRA_ARGS="--vfio ${bdf}"
  inner_boot --mem 256 --timeout 150 --cmd 'ls /sys/bus/pci/drivers/nvme/ 2>&1; ls /dev/nvme* 2>&1; dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=16 2>&1; grep -i nvme /proc/interrupts; echo msi_irqs: $(cat /sys/bus/pci/drivers/nvme/0000*/msi_irqs/*)'
  INNER_EXTRA_ARGS=""
  inner_check_booted vfio_nvme || return
  if ! grep -q 'nvme0n1' "${INNER_OUT}"; then
    lab_result vfio_nvme FAIL "no /dev/nvme0n1 in the guest: $(head -c 300 "${INNER_OUT}" | tr '\n' ' ')"
    return
  fi
  # msi_irqs/<irq> says "msix" for each MSI-X vector (the label in
  # /proc/interrupts is PCI-MSI for both kinds).
  if ! grep -q '^msi_irqs: msix' "${INNER_OUT}"; then
    lab_result vfio_nvme FAIL "nvme is not using MSI-X: $(grep msi_irqs "${INNER_OUT}")"
    return
  fi
  # /proc/interrupts lines for nvme vectors: "IRQ: COUNT ... PCI-MSIX-... nvme0q0".
  counts=$(awk '/nvme/ && /MSI/ { s += $2 } END { print s + 0 }' "${INNER_OUT}")
  if [ "${counts}" -le 0 ]; then
    lab_result vfio_nvme FAIL "nvme bound but no MSI-X interrupts counted: $(grep nvme "${INNER_OUT}" | tr '\n' ' ')"
    return
  fi
  lab_result vfio_nvme PASS "nvme ${bdf}: driver bound, nvme0n1 read, ${counts} MSI-X interrupts"
}
