# SPDX-License-Identifier: Apache-2.0
# Scenario bench_qemu_boot (a benchmark, not a proof): start to the inner
# init, microvm against Debian's QEMU as its peer. In the lab machine, on
# its /dev/kvm, each boots the same inner kernel (/lab/vmlinuz) and initramfs
# (/lab/inner.cpio.gz) with 1 vCPU, 256 MiB and the same kernel command line:
#   microvm       microvm --boot_timer (as scenario boot)
#   qemu-microvm  qemu-system-x86_64 -M microvm -accel kvm: QEMU's closest
#                 peer (no PCI; qboot firmware)
#   qemu-q35      qemu-system-x86_64 -M q35 -accel kvm (SeaBIOS, PCIe)
# QEMU runs with -cpu host (microvm passes KVM's supported CPUID too),
# -nodefaults -no-user-config -nographic, the console on stdio.
#
# How the time is taken, the same way for all three: the inner init writes
# marker 123 to guest-physical 0xf0000000 (devmem; tools/lab/inner_init.sh),
# one MMIO write that exits to the VMM, which turns it into a line on stderr:
# microvm's boot timer reports "guest marker 123" (--boot_timer), QEMU logs
# "Invalid write at addr 0xF0000000" (-d guest_errors: nothing is mapped
# there on either machine, so QEMU drops the write and says so). stderr goes
# to a FIFO whose reader here stamps that line with /proc/uptime (10 ms
# steps) against the same clock read just before the VMM was started:
# start_to_init_ms. microvm's own boot timer (ms since its main(): vCPUs
# start, marker 123) is reported beside it, and for all three when the
# console showed the init's first line, and the inner kernel's uptime then.
# (Not a port write to QEMU's isa-debugcon: the inner kernel has no
# /dev/port, and an "out" after ioperm() from user space takes a general
# protection fault in this nested set-up under QEMU's pc and q35 machines,
# not under -M microvm or microvm. Likely cause: the outer QEMU's TCG checks
# I/O permission only for a TSS of type 9, and KVM reports TR as busy
# (type 11) to a VMM that reads the registers back.)
#
# After one warm-up boot of each (not counted), three runs of each,
# interleaved; medians; one line per VMM:
#   LAB-BENCH boot vmm=<microvm|qemu-microvm|qemu-q35> start_to_init_ms=<ms>
#     ratio_to_microvm=<its median / microvm's> min_ms=<ms> max_ms=<ms>
#     console_init_ms=<ms> kernel_uptime_at_init_s=<s> runs=<n>
#     [boot_timer_vcpus_ms=<ms> boot_timer_init_ms=<ms>: microvm only]
# PASS when every run of every VMM gave its marker; times are not judged.
# Needs Debian's QEMU in the lab machine: tools/lab/lab.sh ships
# /usr/bin/qemu-system-x86_64, its shared libraries, /usr/share/qemu and
# /usr/share/seabios when this scenario is asked for.

QB_QEMU=/usr/bin/qemu-system-x86_64
QB_VMMS="microvm qemu-microvm qemu-q35"
QB_RUNS=3
QB_MEM=256
QB_CPUS=1

# Median of the numbers on stdin (one a line); nothing for no input.
qb_median() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ms between two /proc/uptime readings.
qb_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'; }

# qb_boot VMM: boots the inner guest once with VMM and sets
#   QB_MARK_MS     ms from just before the start to the stamped marker ("": none)
#   QB_CONSOLE_MS  ms to the init's first console line ("": never seen)
#   QB_UPTIME      the inner kernel's uptime at init (s)
#   QB_VCPUS_MS, QB_BT_MS  microvm's own boot timer (microvm only)
#   QB_STATUS      the VMM's exit status; QB_WALL_S its wall time
#   QB_HOW         how it ended: exited, killed-after-end (10 s after the
#                  init said it was powering off) or timed-out
qb_boot() {
  vmm=$1
  con=${WORK}/qb-console.fifo mark=${WORK}/qb-mark.fifo
  QB_MARK_MS="" QB_CONSOLE_MS="" QB_UPTIME="" QB_VCPUS_MS="" QB_BT_MS=""
  QB_STATUS="" QB_WALL_S="" QB_HOW=exited
  rm -f "${con}" "${mark}" "${WORK}/qb-mark.t" "${WORK}/timed-out" "${WORK}/killed-after-end"
  mkfifo "${con}" "${mark}"
  : >"${WORK}/qb-mark.log"; : >"${WORK}/qb-console.log"
  cmdline="${INNER_CMDLINE_BASE} lab.end=poweroff"
  # The marker reader. Read-write open: neither it nor the VMM waits in
  # open(); it never sees EOF, so it is killed once the VMM has ended.
  (
    while IFS= read -r l; do
      read -r t _ </proc/uptime
      printf '%s\n' "${l}" >>"${WORK}/qb-mark.log"
      # microvm's report of the marker; QEMU's of the write it dropped.
      case "${vmm}:${l}" in
        microvm:*"guest marker 123 "* | qemu-*:"Invalid write at addr 0xF0000000,"*)
          [ -e "${WORK}/qb-mark.t" ] || echo "${t}" >"${WORK}/qb-mark.t" ;;
      esac
    done
  ) <>"${mark}" &
  reader=$!
  echo "LAB-AGENT: bench_qemu_boot: ${vmm}, --cmdline '${cmdline}'"
  read -r t0 _ </proc/uptime
  case "${vmm}" in
    microvm)
      "${MICROVM}" --kernel "${INNER_KERNEL}" --initrd "${INNER_INITRD}" \
        --mem "${QB_MEM}" --cpus "${QB_CPUS}" --cmdline "${cmdline}" --boot_timer \
        </dev/null >"${con}" 2>"${mark}" &
      ;;
    qemu-*)
      "${QB_QEMU}" -M "${vmm#qemu-}" -accel kvm -cpu host \
        -smp "${QB_CPUS}" -m "${QB_MEM}" \
        -nodefaults -no-user-config -nographic -no-reboot -d guest_errors \
        -kernel "${INNER_KERNEL}" -initrd "${INNER_INITRD}" -append "${cmdline}" \
        -serial stdio \
        </dev/null >"${con}" 2>"${mark}" &
      ;;
  esac
  pid=$!
  after "${INNER_TIMEOUT}" kill_microvm timed-out
  watchdog=${AFTER_PID}
  ender="" t_init=""
  # No forks per line: under TCG each costs milliseconds.
  while IFS= read -r line; do
    read -r t _ </proc/uptime
    line=${line%"${CR}"}
    printf '%s\n' "${line}" >>"${WORK}/qb-console.log"
    printf 'inner| %s\n' "${line}"
    case "${line}" in
      *"LAB-INNER: init reached uptime="*)
        t_init=${t}
        QB_UPTIME=${line##*uptime=} ;;
      *"LAB-INNER: ending with "*)
        if [ -z "${ender}" ]; then
          after 10 kill_microvm killed-after-end
          ender=${AFTER_PID}
        fi ;;
    esac
  done <"${con}"
  wait "${pid}"
  QB_STATUS=$?
  read -r t1 _ </proc/uptime
  kill "${watchdog}" 2>/dev/null
  [ -z "${ender}" ] || kill "${ender}" 2>/dev/null
  kill "${reader}" 2>/dev/null
  wait "${reader}" 2>/dev/null
  rm -f "${con}" "${mark}"
  [ ! -e "${WORK}/killed-after-end" ] || QB_HOW=killed-after-end
  [ ! -e "${WORK}/timed-out" ] || QB_HOW=timed-out
  QB_WALL_S=$(awk -v a="${t0}" -v b="${t1}" 'BEGIN { printf "%.2f", b - a }')
  [ -z "${t_init}" ] || QB_CONSOLE_MS=$(qb_ms "${t0}" "${t_init}")
  if [ -s "${WORK}/qb-mark.t" ]; then
    QB_MARK_MS=$(qb_ms "${t0}" "$(cat "${WORK}/qb-mark.t")")
  fi
  if [ "${vmm}" = microvm ]; then
    QB_VCPUS_MS=$(sed -n 's/.*boot timer: vCPUs start at \([0-9.]*\) ms.*/\1/p' "${WORK}/qb-mark.log")
    QB_BT_MS=$(sed -n 's/.*guest marker 123 (init) at \([0-9.]*\) ms.*/\1/p' "${WORK}/qb-mark.log")
  fi
  echo "LAB-AGENT: bench_qemu_boot: ${vmm} start_to_init_ms=${QB_MARK_MS:-none}" \
    "console_init_ms=${QB_CONSOLE_MS:-none} kernel_uptime_at_init_s=${QB_UPTIME:-none}" \
    "${QB_BT_MS:+boot_timer_vcpus_ms=${QB_VCPUS_MS} boot_timer_init_ms=${QB_BT_MS} }status=${QB_STATUS}" \
    "ended=${QB_HOW} wall_s=${QB_WALL_S}"
}

run_scenario() {
  if [ ! -x "${QB_QEMU}" ]; then
    lab_result bench_qemu_boot FAIL "no ${QB_QEMU} in the lab machine (lab.sh ships the host's QEMU when this scenario is named)"
    return
  fi
  qemu_version=$("${QB_QEMU}" --version 2>&1 | head -n 1)
  echo "LAB-AGENT: bench_qemu_boot: ${qemu_version}"
  # Warm-up, not counted: one boot of each. In a fresh lab machine the first
  # run of any program is slower by hundreds of ms (QEMU under TCG
  # translates the code paths it meets for the first time and backs memory
  # at its first touch), and would be charged to whichever VMM comes first.
  for vmm in ${QB_VMMS}; do
    echo "LAB-AGENT: bench_qemu_boot: warm-up boot, not counted"
    qb_boot "${vmm}"
  done
  failed=""
  for vmm in ${QB_VMMS}; do : >"${WORK}/qb-${vmm}.runs"; done
  run=1
  while [ "${run}" -le "${QB_RUNS}" ]; do
    for vmm in ${QB_VMMS}; do
      qb_boot "${vmm}"
      if [ -z "${QB_MARK_MS}" ] || { [ "${vmm}" = microvm ] && [ -z "${QB_BT_MS}" ]; }; then
        why=$(grep -v '^[[:space:]]*$' "${WORK}/qb-mark.log" | tail -n 3 | tr '\n' ' ' | cut -c1-240)
        [ -n "${why}" ] || why="last console line: $(grep -v '^[[:space:]]*$' "${WORK}/qb-console.log" | tail -n 1 | cut -c1-160)"
        failed="${failed} ${vmm} run ${run}: no marker (status ${QB_STATUS}, ${QB_HOW}; ${why});"
        continue
      fi
      echo "${QB_MARK_MS} ${QB_CONSOLE_MS:-0} ${QB_UPTIME:-0} ${QB_VCPUS_MS:-0} ${QB_BT_MS:-0}" \
        >>"${WORK}/qb-${vmm}.runs"
    done
    run=$((run + 1))
  done

  base=""
  for vmm in ${QB_VMMS}; do
    f=${WORK}/qb-${vmm}.runs
    n=$(wc -l <"${f}")
    [ "${n}" -gt 0 ] || continue
    med=$(cut -d' ' -f1 "${f}" | qb_median)
    [ "${vmm}" != microvm ] || base=${med}
    extra=""
    if [ "${vmm}" = microvm ]; then
      extra=" boot_timer_vcpus_ms=$(cut -d' ' -f4 "${f}" | qb_median) boot_timer_init_ms=$(cut -d' ' -f5 "${f}" | qb_median)"
    fi
    echo "LAB-BENCH boot vmm=${vmm} start_to_init_ms=${med}" \
      "ratio_to_microvm=$(awk -v a="${med}" -v b="${base}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "none" }')" \
      "min_ms=$(cut -d' ' -f1 "${f}" | sort -n | head -n 1) max_ms=$(cut -d' ' -f1 "${f}" | sort -n | tail -n 1)" \
      "console_init_ms=$(cut -d' ' -f2 "${f}" | qb_median)" \
      "kernel_uptime_at_init_s=$(cut -d' ' -f3 "${f}" | qb_median) runs=${n}${extra}"
  done
  if [ -n "${failed}" ]; then
    lab_result bench_qemu_boot FAIL "${failed}"
  else
    lab_result bench_qemu_boot PASS "${QB_RUNS} runs each of ${QB_VMMS} (LAB-BENCH boot lines above; ${qemu_version})"
  fi
}
