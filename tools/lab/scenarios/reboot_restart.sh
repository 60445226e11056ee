# SPDX-License-Identifier: Apache-2.0
# Scenario reboot_restart: microvm --on_reboot=restart with two devices
# passed through, the first ivshmem-plain (1af4:1110) and the nvme
# (1b36:0010). Each boot the inner Linux counts itself in ivshmem's BAR 2
# (offset 0x104, under the lab's token at 0x100: the RAM of the guest does
# not count, the device's memory does), checks that the nvme driver bound
# again and reads the disk, then reboots (reboot -f: the i8042 reset) until
# the count is 3, and powers off. Meanwhile the agent counts microvm's open
# fds, threads and mappings at each boot: the third boot must hold exactly
# what the first held. microvm maps guest RAM for DMA once, says "booting it
# again" twice and exits 0.
. "${LAB}/scenarios/_vfio_fault.sh"  # microvm_left

run_scenario() {
  [ -n "${LAB_SHM_TOKEN:-}" ] || { lab_result reboot_restart FAIL "no LAB_SHM_TOKEN (run through tools/lab/lab.sh)"; return; }
  shm=$(pci_first 1af4:1110) nvme=$(pci_first 1b36:0010)
  [ -n "${shm}" ] && [ -n "${nvme}" ] || { lab_result reboot_restart FAIL "needs ivshmem (1af4:1110) and nvme (1b36:0010): '${shm}' '${nvme}'"; return; }
  counts=${WORK}/reboot_restart-counts
  : >"${counts}"
  : >"${WORK}/console.log"
  # The agent's half: microvm's fds, threads and mappings at each boot,
  # while the inner guest sleeps after saying it is up.
  (
    for n in 1 2 3; do
      console_wait "LAB-INNER: boot ${n}: " || exit 0
      for p in $(microvm_left); do
        echo "boot ${n} fds=$(ls "/proc/${p}/fd" | wc -l) threads=$(ls "/proc/${p}/task" | wc -l) maps=$(wc -l <"/proc/${p}/maps")" >>"${counts}"
      done
    done
  ) &
  counter=$!
  cmd='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1af4:0x1110 ] && shm=$d; done;'
  cmd="${cmd} bar=\$(sed -n 3p \$shm/resource | cut -d\" \" -f1);"
  cmd="${cmd} [ \$((\$(devmem \$((bar + 0x100)) 32))) = \$((0x${LAB_SHM_TOKEN})) ] || { devmem \$((bar + 0x104)) 32 0; devmem \$((bar + 0x100)) 32 0x${LAB_SHM_TOKEN}; };"
  cmd="${cmd} n=\$((\$(devmem \$((bar + 0x104)) 32) + 1)); devmem \$((bar + 0x104)) 32 \$n;"
  cmd="${cmd} nvme=\$(ls /sys/bus/pci/drivers/nvme | grep :);"
  cmd="${cmd} dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=16 2>/dev/null && read=ok || read=failed;"
  cmd="${cmd} echo \"LAB-INNER: boot \$n: nvme driver bound to \${nvme:-nothing}, read \$read\"; sleep 3;"
  cmd="${cmd} if [ \$n -lt 3 ]; then reboot -f; else poweroff -f; fi"
  INNER_EXTRA_ARGS="--vfio ${shm} --vfio ${nvme} --on_reboot=restart"
  inner_boot --mem 256 --timeout 240 --end poweroff --cmd "${cmd}"
  INNER_EXTRA_ARGS=""
  wait "${counter}"
  inner_check_booted reboot_restart || return
  boots=$(grep -c "LAB-INNER: boot [0-9]*: nvme driver bound to 0000:[0-9a-f:.]*, read ok" "${INNER_LOG}")
  c1=$(sed -n 's/^boot 1 //p' "${counts}") c3=$(sed -n 's/^boot 3 //p' "${counts}")
  if [ "${INNER_STATUS}" != 0 ] || [ "${boots}" != 3 ] ||
     ! grep -q 'LAB-INNER: boot 3: ' "${INNER_LOG}" ||
     ! grep -q 'microvm: the guest reset: booting it again (boot 3, --on_reboot=restart)' "${INNER_LOG}" ||
     [ "$(grep -c 'microvm: mapped .* MiB of guest RAM for DMA' "${INNER_LOG}")" != 1 ]; then
    lab_result reboot_restart FAIL "microvm status ${INNER_STATUS} (want 0), ${boots} boots with nvme bound (want 3); console: $(grep -E 'LAB-INNER: boot|microvm:' "${INNER_LOG}" | tail -n 8 | tr '\n' ' ')"
    return
  fi
  if [ -z "${c1}" ] || [ "${c1}" != "${c3}" ]; then
    lab_result reboot_restart FAIL "microvm at boot 1: '${c1}', at boot 3: '${c3}' (want equal): $(tr '\n' ' ' <"${counts}")"
    return
  fi
  lab_result reboot_restart PASS "3 boots in one microvm (--on_reboot=restart): the inner Linux counted them in ivshmem ${shm} BAR 2, the nvme driver bound ${nvme} and read it each boot; guest RAM mapped for DMA once; microvm at boot 1 and boot 3: ${c1}; exit 0"
}
