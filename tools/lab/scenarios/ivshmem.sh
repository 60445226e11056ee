# SPDX-License-Identifier: Apache-2.0
# Scenario ivshmem: the lab machine writes a token (LAB_SHM_TOKEN, made by
# lab.sh) into ivshmem's BAR 2 and reads it back; lab.sh then finds it in the
# BAR's backing file on the outer host and adds its own LAB-RESULT line. This
# is the path by which a passed-through device will later show the outer
# host what the innermost guest wrote. Uses /dev/mem (busybox devmem): the
# BAR is not claimed while no one has opened the vfio device.
run_scenario() {
  if [ -z "${LAB_SHM_TOKEN:-}" ]; then
    lab_result ivshmem FAIL "no LAB_SHM_TOKEN (run through tools/lab/lab.sh)"
    return
  fi
  dev=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1af4:1110 ] && dev=${d} && break
  done
  [ -n "${dev}" ] || { lab_result ivshmem FAIL "no ivshmem device (1af4:1110)"; return; }
  # resource: one line per BAR, "start end flags"; line 3 is BAR 2.
  bar=$(sed -n 3p "${dev}/resource" | cut -d' ' -f1)
  if [ -z "${bar}" ] || [ $((bar)) = 0 ]; then
    lab_result ivshmem FAIL "BAR 2 of ${dev##*/} is not assigned"
    return
  fi
  # Memory space decoding (PCI Local Bus 3.0 6.2.2, Command bit 1): set it if
  # firmware left it off; vfio-pci turns it on only when the device is opened.
  cmd=$(od -An -tu1 -j4 -N1 "${dev}/config" | tr -d ' ')
  if [ $((cmd & 2)) = 0 ]; then
    printf "$(printf '\\%03o' $((cmd | 2)))" |
      dd of="${dev}/config" bs=1 seek=4 count=1 conv=notrunc 2>/dev/null
  fi
  if ! devmem "${bar}" 32 "0x${LAB_SHM_TOKEN}" 2>/tmp/devmem.err; then
    lab_result ivshmem FAIL "devmem write to ${bar} failed: $(cat /tmp/devmem.err)"
    return
  fi
  back=$(devmem "${bar}" 32 | tr 'A-F' 'a-f')
  if [ $((back)) != $((0x${LAB_SHM_TOKEN})) ]; then
    lab_result ivshmem FAIL "wrote 0x${LAB_SHM_TOKEN} at ${bar}, read back ${back}"
  else
    lab_result ivshmem PASS "lab machine wrote token 0x${LAB_SHM_TOKEN} at BAR 2 ${bar} of ${dev##*/}"
  fi
}
