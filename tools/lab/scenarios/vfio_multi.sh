# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_multi: three host devices (edu 1234:11e8, ivshmem 1af4:1110,
# nvme 1b36:0010, each in its own IOMMU group) passed through to one inner
# Linux with repeated --vfio, sharing one VFIO container: the inner guest
# sees all three on its bus next to the host bridge, each with its memory
# BARs assigned, and the nvme driver still binds.
run_scenario() {
  args=""
  for id in 1234:11e8 1af4:1110 1b36:0010; do
    bdf=""
    for d in /sys/bus/pci/devices/*; do
      [ "$(pci_id "${d}")" = "${id}" ] && bdf=${d##*/} && break
    done
    [ -n "${bdf}" ] || { lab_result vfio_multi FAIL "no ${id} device in the lab"; return; }
    args="${args} --vfio ${bdf}"
  done
  INNER_EXTRA_ARGS="${args}"
  inner_boot --mem 256 --timeout 150 --cmd 'for d in /sys/bus/pci/devices/*; do echo "pci $(basename $d) $(cat $d/vendor):$(cat $d/device) bar0=$(head -n 1 $d/resource | cut -d" " -f1)"; done; ls /dev/nvme0n1'
  INNER_EXTRA_ARGS=""
  inner_check_booted vfio_multi || return
  for id in 0x1234:0x11e8 0x1af4:0x1110 0x1b36:0x0010; do
    if ! grep -qE "^pci 0000:00:0[1-9].0 ${id} bar0=0x0*[1-9a-f]" "${INNER_OUT}"; then
      lab_result vfio_multi FAIL "${id} missing or without BAR0 in the guest: $(grep '^pci' "${INNER_OUT}" | tr '\n' ' ')"
      return
    fi
  done
  if ! grep -q '^/dev/nvme0n1' "${INNER_OUT}"; then
    lab_result vfio_multi FAIL "nvme did not come up next to the other devices"
    return
  fi
  lab_result vfio_multi PASS "edu, ivshmem and nvme in one guest:${args}"
}
