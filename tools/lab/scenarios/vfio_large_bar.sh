# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_large_bar: a BAR larger than microvm's 32-bit MMIO window
# (512 MiB at 0xC0000000, memory/layout.h) is placed in the 64-bit window
# above RAM. The lab's second ivshmem-plain (1af4:1110) has a 64-bit BAR 2
# of LAB_BIG_SHM_SIZE (1 GiB) bytes, backed by a sparse file on the outer
# host. Passed to the inner Linux with `microvm --vfio <bdf>`, its BAR 2
# must be above 4 GiB and of that size there; the inner guest writes
# LAB_BIG_SHM_TOKEN into the BAR's last 4 bytes with devmem and reads it
# back, and lab.sh then finds it at that offset of the backing file.
# (A BAR that fits nowhere cannot be shown here: the 64-bit window is 64 GiB
# unless RAM reaches near the CPU's address limit, and the lab's IOMMU
# refuses DMA to RAM that high first. pci/bar_allocator_test.cc and
# pci/root_complex_test.cc cover that error.)
# shellcheck disable=SC2046 # "set -- $(...)" splits a line into fields on purpose.
run_scenario() {
  size=${LAB_BIG_SHM_SIZE:-} token=${LAB_BIG_SHM_TOKEN:-}
  if [ -z "${size}" ] || [ -z "${token}" ]; then
    lab_result vfio_large_bar FAIL "no LAB_BIG_SHM_SIZE/LAB_BIG_SHM_TOKEN (run through tools/lab/lab.sh)"
    return
  fi
  # The ivshmem whose BAR 2 has that size; resource line 3 is "start end flags".
  bdf="" lab_start="" lab_flags=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1af4:1110 ] || continue
    set -- $(sed -n 3p "${d}/resource")
    if [ $(($2 - $1 + 1)) = "${size}" ]; then
      bdf=${d##*/} lab_start=$1 lab_flags=$3
      break
    fi
  done
  [ -n "${bdf}" ] || { lab_result vfio_large_bar FAIL "no ivshmem (1af4:1110) with a ${size}-byte BAR 2 in the lab"; return; }
  # IORESOURCE_MEM_64 (include/linux/ioport.h): firmware must have kept it a
  # 64-bit BAR, or no guest could place it above 4 GiB.
  if [ $((lab_flags & 0x100000)) = 0 ]; then
    lab_result vfio_large_bar FAIL "${bdf} BAR 2 at ${lab_start} is not a 64-bit BAR in the lab machine (flags ${lab_flags})"
    return
  fi
  echo "LAB-AGENT: large ivshmem ${bdf}: BAR 2 at ${lab_start} in the lab machine, ${size} bytes"

  cmd='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1110 ] && dev=$d; done;'
  cmd="${cmd} set -- \$(sed -n 3p \$dev/resource); echo \"bar2 \$1 \$2 \$3\";"
  cmd="${cmd} last=\$(printf 0x%x \$((\$2 - 3))); devmem \$last 32 0x${token};"
  cmd="${cmd} echo \"readback \$last \$(devmem \$last 32)\""
  INNER_EXTRA_ARGS="--vfio ${bdf}"
  inner_boot --mem 128 --timeout 120 --cmd "${cmd}"
  INNER_EXTRA_ARGS=""
  inner_check_booted vfio_large_bar || return
  set -- $(grep '^bar2 ' "${INNER_OUT}")
  if [ $# != 4 ]; then
    lab_result vfio_large_bar FAIL "no BAR 2 from the inner guest: $(tr '\n' ' ' <"${INNER_OUT}" | cut -c1-200)"
    return
  fi
  start=$2 end=$3 flags=$4
  if [ $((start)) -lt $((1 << 32)) ] || [ $((end - start + 1)) != "${size}" ] ||
     [ $((flags & 0x100000)) = 0 ]; then
    lab_result vfio_large_bar FAIL "inner BAR 2 is [${start}, ${end}] flags ${flags}: want ${size} bytes, 64-bit, above 4 GiB"
    return
  fi
  set -- $(grep '^readback ' "${INNER_OUT}")
  if [ $# != 3 ] || [ $(($3)) != $((0x${token})) ]; then
    lab_result vfio_large_bar FAIL "inner guest read back '${3:-}' at '${2:-}' for token 0x${token}"
    return
  fi
  lab_result vfio_large_bar PASS "${bdf}: inner BAR 2 [${start}, ${end}] (64-bit, ${size} bytes); token 0x${token} written at ${2}"
}
