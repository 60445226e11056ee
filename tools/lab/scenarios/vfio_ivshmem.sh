# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_ivshmem: ivshmem-plain (1af4:1110) passed through to the
# inner Linux with `microvm --vfio <bdf>`; the inner guest writes the lab's
# token (LAB_SHM_TOKEN) into BAR 2 (a memslot over the VFIO mmap, over the
# lab machine's BAR, over the outer host's file) with devmem and reads it
# back. lab.sh then looks for the token in the backing file on the outer
# host (its check for "LAB-RESULT ivshmem" must include vfio_ivshmem).
run_scenario() {
  [ -n "${LAB_SHM_TOKEN:-}" ] || { lab_result vfio_ivshmem FAIL "no LAB_SHM_TOKEN (run through tools/lab/lab.sh)"; return; }
  bdf=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1af4:1110 ] && bdf=${d##*/} && break
  done
  [ -n "${bdf}" ] || { lab_result vfio_ivshmem FAIL "no ivshmem device (1af4:1110)"; return; }
  # In the inner guest: find ivshmem, BAR 2 from sysfs, write and read back.
  cmd='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1110 ] && dev=$d; done;'
  cmd="${cmd} bar=\$(sed -n 3p \$dev/resource | cut -d\" \" -f1); echo ivshmem=\$dev bar2=\$bar;"
  cmd="${cmd} devmem \$bar 32 0x${LAB_SHM_TOKEN}; echo readback=\$(devmem \$bar 32)"
  INNER_EXTRA_ARGS="--vfio ${bdf}"
  inner_boot --mem 128 --timeout 120 --cmd "${cmd}"
  INNER_EXTRA_ARGS=""
  inner_check_booted vfio_ivshmem || return
  back=$(sed -n 's/^readback=//p' "${INNER_OUT}" | tr 'A-F' 'a-f')
  if [ -z "${back}" ] || [ $((back)) != $((0x${LAB_SHM_TOKEN})) ]; then
    lab_result vfio_ivshmem FAIL "inner guest read back '${back}' for token 0x${LAB_SHM_TOKEN}: $(tr '\n' ' ' <"${INNER_OUT}" | cut -c1-200)"
    return
  fi
  lab_result vfio_ivshmem PASS "inner guest wrote token 0x${LAB_SHM_TOKEN} through passed-through ivshmem ${bdf} BAR 2"
}
