# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_nvme: QEMU's nvme (1b36:0010) passed through to the inner
# Linux with `microvm --vfio <bdf>`: the nvme driver binds, finds the
# namespace, and its MSI-X interrupts count up in /proc/interrupts after a
# read from the disk. Needs agent.sh's inner_boot to put INNER_EXTRA_ARGS on
# microvm's command line. With --stats and --stats_json: microvm counts the
# nvme's trapped BAR accesses (the MSI-X table the driver programs) and the
# 1 GiB of guest RAM it mapped for DMA (--dma_map=overlap, the default: on a
# thread of its own while the guest boots, the nvme's Bus Master Enable held
# until it is done), in the table and in the JSON.
run_scenario() {
  bdf=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1b36:0010 ] && bdf=${d##*/} && break
  done
  [ -n "${bdf}" ] || { lab_result vfio_nvme FAIL "no nvme device (1b36:0010)"; return; }
  stats_json=${WORK}/vfio_nvme-stats.json
  rm -f "${stats_json}"
  INNER_EXTRA_ARGS="--vfio ${bdf} --stats --stats_json ${stats_json}"
  inner_boot --mem 1024 --timeout 150 --cmd 'ls /sys/bus/pci/drivers/nvme/ 2>&1; ls /dev/nvme* 2>&1; dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=16 2>&1; grep -i nvme /proc/interrupts; echo msi_irqs: $(cat /sys/bus/pci/drivers/nvme/0000*/msi_irqs/*)'
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
  trapped=$(sed -n "s/.*microvm: stats: passthrough ${bdf}: \([0-9]*\) trapped BAR reads, \([0-9]*\) writes.*/\1 \2/p" "${INNER_LOG}")
  if [ -z "${trapped}" ] || [ "${trapped#* }" -le 0 ]; then
    lab_result vfio_nvme FAIL "--stats shows no trapped MSI-X table writes for ${bdf}: '${trapped}'"
    return
  fi
  if ! grep -q 'microvm: stats: DMA: 1024 MiB of guest RAM mapped in .* (while the guest booted, done ' "${INNER_LOG}" ||
     ! grep -q "\"passthrough\": \[{\"device\": \"${bdf}\", \"trapped_reads\": ${trapped% *}, \"trapped_writes\": ${trapped#* }}\]" "${stats_json}" ||
     ! grep -q '"dma": {"bytes": 1073741824, .*"total_bytes": 1073741824, "mode": "overlap", "finished_seconds": [0-9]' "${stats_json}"; then
    lab_result vfio_nvme FAIL "--stats/--stats_json disagree or miss the DMA mapping: $(grep 'microvm: stats' "${INNER_LOG}" | tr '\n' ' ') json: $(head -c 400 "${stats_json}" 2>&1)"
    return
  fi
  lab_result vfio_nvme PASS "nvme ${bdf}: driver bound, nvme0n1 read, ${counts} MSI-X interrupts; --stats: ${trapped% *} trapped BAR reads, ${trapped#* } writes; $(sed -n 's/.*microvm: stats: DMA: //p' "${INNER_LOG}")"
}
