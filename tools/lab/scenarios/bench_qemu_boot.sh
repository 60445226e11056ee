# SPDX-License-Identifier: Apache-2.0
# Scenario bench_qemu_boot (a benchmark, not a proof): start to the inner
# init, microvm against Debian's QEMU as its peer, and microvm's own share of
# that time. In the lab machine, on its /dev/kvm, each boots the same inner
# kernel and initramfs (/lab/inner.cpio.gz) with 1 vCPU, 256 MiB and the same
# kernel command line:
#   microvm               microvm --boot_timer, the bzImage (/lab/vmlinuz)
#   microvm-vmlinux       the same with the uncompressed kernel, the ELF
#                         vmlinux taken out of that bzImage (/lab/vmlinux,
#                         tools/lab/extract_vmlinux.sh; the other scenarios
#                         boot it): no decompression, no relocation by the
#                         kernel's boot stub
#   qemu-microvm          QEMU's fastest configuration for this boot:
#                         -M microvm,x-option-roms=off,isa-serial=on,rtc=on
#                         -cpu host (qboot firmware, no PCI, no option ROM:
#                         qboot loads the bzImage itself)
#   qemu-microvm-vmlinux  the same with the vmlinux (its PVH entry note)
#   qemu-q35              -M q35 at its defaults (SeaBIOS, option ROMs, PCIe):
#                         the common PC, for reference only
# QEMU runs with -accel kvm -cpu host (microvm passes KVM's supported CPUID
# too), -nodefaults -no-user-config -nographic, the console on stdio.
#
# How the time is taken, the same way for all: the inner init writes marker
# 123 to guest-physical 0xf0000000 (devmem; tools/lab/inner_init.sh), one
# MMIO write that exits to the VMM, which turns it into a line on stderr:
# microvm's boot timer reports "guest marker 123" (--boot_timer), QEMU logs
# "Invalid write at addr 0xF0000000" (-d guest_errors: nothing is mapped
# there on either machine, so QEMU drops the write and says so; the other
# guest errors QEMU logged before it are counted: each costs QEMU a line).
# stderr goes to a FIFO whose reader here stamps that line with /proc/uptime
# (10 ms steps) against the same clock read just before the VMM was started:
# start_to_init_ms. For all, when the console showed the init's first line,
# and the inner kernel's uptime then.
# (Not a port write to QEMU's isa-debugcon: the inner kernel has no
# /dev/port, and an "out" after ioperm() from user space takes a general
# protection fault in this nested set-up under QEMU's pc and q35 machines,
# not under -M microvm or microvm. Likely cause: the outer QEMU's TCG checks
# I/O permission only for a TSS of type 9, and KVM reports TR as busy
# (type 11) to a VMM that reads the registers back.)
#
# microvm's share, from its boot timer at marker 123 (devices/boot_timer.h,
# vmm/stats.h FormatBootShare): the time to the first guest instruction, the
# exits its vCPU thread handled (KVM_RUN's return to the next call: the
# guest waits for these), its other threads' CPU since the vCPUs started,
# against the time to the marker; and the exits by reason until then.
#
# After one warm-up boot of each (not counted), three runs of each
# (LAB_BENCH_REPETITIONS: bench/run.sh passes its repetitions),
# interleaved; medians; one line per VMM:
#   LAB-BENCH boot vmm=<name> start_to_init_ms=<ms>
#     ratio_to_microvm=<its median / microvm's> min_ms=<ms> max_ms=<ms>
#     console_init_ms=<ms> kernel_uptime_at_init_s=<s> guest_errors=<n> runs=<n>
#   LAB-BENCH boot_share vmm=<microvm|microvm-vmlinux> share_pct=<%>
#     own_ms=<ms> first_instruction_ms=<ms> exits_handled_ms=<ms>
#     other_threads_cpu_ms=<ms> exits=<n> exits_io=<n> exits_mmio=<n>
#     exits_hlt=<n> exits_intr=<n> exits_other=<n> init_ms=<boot timer's>
#   LAB-BENCH boot_config vmm=<name> kernel=<file> machine=<-M> firmware=<..>
# PASS when every run of every VMM gave its marker (and microvm its share);
# times are not judged. Needs Debian's QEMU in the lab machine:
# tools/lab/lab.sh ships /usr/bin/qemu-system-x86_64, its shared libraries,
# /usr/share/qemu and /usr/share/seabios when this scenario is asked for.

QB_QEMU=/usr/bin/qemu-system-x86_64
QB_VMLINUX=${INNER_KERNEL}
QB_VMMS="microvm microvm-vmlinux qemu-microvm qemu-microvm-vmlinux qemu-q35"
QB_RUNS=${LAB_BENCH_REPETITIONS:-3}
QB_MEM=256
QB_CPUS=1
# QEMU's machine options for each of its configurations.
QB_FAST_MACHINE=microvm,x-option-roms=off,isa-serial=on,rtc=on

# Median of the numbers on stdin (one a line); nothing for no input.
qb_median() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ms between two /proc/uptime readings.
qb_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f\n", (b - a) * 1000 }'; }

# qb_kernel VMM: the kernel file VMM boots.
qb_kernel() {
  case "$1" in
    *-vmlinux) echo "${QB_VMLINUX}" ;;
    *) echo "${INNER_BZIMAGE}" ;;
  esac
}

# qb_share: microvm's share line after marker 123 in qb-mark.log as
# key=value words (boot_share's keys); nothing if there is none.
qb_share() {
  sed -n "/guest marker 123 /,\$ { s/.*microvm's share of the \([0-9.]*\) ms: \([0-9.]*\)% (\([0-9.]*\) ms): to the first instruction \([0-9.]*\) ms, exits handled \([0-9.]*\) ms (exits \(.*\)), other threads' CPU \([0-9.]*\) ms.*/\1 \2 \3 \4 \5 \7 \6/p }" \
    "${WORK}/qb-mark.log" | head -n 1 |
    awk '{
      io = mmio = hlt = intr = 0
      total = $7; other = total
      for (i = 8; i < NF; i++) {
        n = $(i + 1); sub(/[,)]+$/, "", n)
        if ($i ~ /KVM_EXIT_IO$/) io = n
        else if ($i ~ /KVM_EXIT_MMIO$/) mmio = n
        else if ($i ~ /KVM_EXIT_HLT$/) hlt = n
        else if ($i ~ /KVM_EXIT_INTR$/) intr = n
      }
      other = total - io - mmio - hlt - intr
      printf "share_pct=%s own_ms=%s first_instruction_ms=%s exits_handled_ms=%s other_threads_cpu_ms=%s exits=%s exits_io=%s exits_mmio=%s exits_hlt=%s exits_intr=%s exits_other=%s init_ms=%s\n",
        $2, $3, $4, $5, $6, total, io, mmio, hlt, intr, other, $1
    }'
}

# qb_boot VMM: boots the inner guest once with VMM and sets
#   QB_MARK_MS     ms from just before the start to the stamped marker ("": none)
#   QB_CONSOLE_MS  ms to the init's first console line ("": never seen)
#   QB_UPTIME      the inner kernel's uptime at init (s)
#   QB_ERRORS      QEMU: guest errors it logged before the marker
#   QB_SHARE       microvm: its share at the marker (qb_share; "": none)
#   QB_STATUS      the VMM's exit status; QB_WALL_S its wall time
#   QB_HOW         how it ended: exited, killed-after-end (10 s after the
#                  init said it was powering off) or timed-out
qb_boot() {
  vmm=$1
  kernel=$(qb_kernel "${vmm}")
  con=${WORK}/qb-console.fifo mark=${WORK}/qb-mark.fifo
  QB_MARK_MS="" QB_CONSOLE_MS="" QB_UPTIME="" QB_ERRORS=0 QB_SHARE=""
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
        microvm*:*"guest marker 123 "* | qemu-*:"Invalid write at addr 0xF0000000,"*)
          [ -e "${WORK}/qb-mark.t" ] || echo "${t}" >"${WORK}/qb-mark.t" ;;
      esac
    done
  ) <>"${mark}" &
  reader=$!
  echo "LAB-AGENT: bench_qemu_boot: ${vmm}, kernel ${kernel}, --cmdline '${cmdline}'"
  read -r t0 _ </proc/uptime
  case "${vmm}" in
    microvm*)
      "${MICROVM}" --kernel "${kernel}" --initrd "${INNER_INITRD}" \
        --mem "${QB_MEM}" --cpus "${QB_CPUS}" --cmdline "${cmdline}" --boot_timer \
        </dev/null >"${con}" 2>"${mark}" &
      ;;
    qemu-*)
      case "${vmm}" in
        qemu-microvm*) machine=${QB_FAST_MACHINE} ;;
        *) machine=${vmm#qemu-} ;;
      esac
      "${QB_QEMU}" -M "${machine}" -accel kvm -cpu host \
        -smp "${QB_CPUS}" -m "${QB_MEM}" \
        -nodefaults -no-user-config -nographic -no-reboot -d guest_errors \
        -kernel "${kernel}" -initrd "${INNER_INITRD}" -append "${cmdline}" \
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
  case "${vmm}" in
    microvm*) QB_SHARE=$(qb_share) ;;
    *) QB_ERRORS=$(sed -n '/^Invalid write at addr 0xF0000000,/q; p' "${WORK}/qb-mark.log" | grep -c .) ;;
  esac
  echo "LAB-AGENT: bench_qemu_boot: ${vmm} start_to_init_ms=${QB_MARK_MS:-none}" \
    "console_init_ms=${QB_CONSOLE_MS:-none} kernel_uptime_at_init_s=${QB_UPTIME:-none}" \
    "guest_errors=${QB_ERRORS} ${QB_SHARE:+${QB_SHARE} }status=${QB_STATUS}" \
    "ended=${QB_HOW} wall_s=${QB_WALL_S}"
}

# qb_medians FILE: one line of key=<median> for the key=value words of
# every line of FILE, in the first line's order.
qb_medians() {
  awk '{
    for (i = 1; i <= NF; i++) {
      split($i, kv, "=")
      if (!(kv[1] in n)) keys[++nk] = kv[1]
      v[kv[1], ++n[kv[1]]] = kv[2]
    }
  } END {
    line = ""
    for (k = 1; k <= nk; k++) {
      key = keys[k]; m = n[key]
      for (i = 1; i <= m; i++) s[i] = v[key, i] + 0
      for (i = 2; i <= m; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
      med = (m % 2) ? s[(m + 1) / 2] : (s[m / 2] + s[m / 2 + 1]) / 2
      line = line (k > 1 ? " " : "") key "=" med
    }
    print line
  }' "$1"
}

# qb_config VMM: its boot_config words.
qb_config() {
  case "$1" in
    microvm*) printf 'machine=microvm firmware=none' ;;
    qemu-microvm*) printf 'machine=%s cpu=host firmware=qboot' "${QB_FAST_MACHINE}" ;;
    qemu-*) printf 'machine=%s cpu=host firmware=seabios+option-roms' "${1#qemu-}" ;;
  esac
  case "$1" in
    *-vmlinux) printf ' kernel=vmlinux(ELF,%s)\n' "$(wc -c <"${QB_VMLINUX}")" ;;
    *) printf ' kernel=bzImage(%s)\n' "$(wc -c <"${INNER_BZIMAGE}")" ;;
  esac
}

run_scenario() {
  if [ ! -x "${QB_QEMU}" ]; then
    lab_result bench_qemu_boot FAIL "no ${QB_QEMU} in the lab machine (lab.sh ships the host's QEMU when this scenario is named)"
    return
  fi
  if [ ! -s "${QB_VMLINUX}" ]; then
    lab_result bench_qemu_boot FAIL "no ${QB_VMLINUX} in the lab machine (lab.sh takes it out of the bzImage)"
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
  for vmm in ${QB_VMMS}; do : >"${WORK}/qb-${vmm}.runs"; : >"${WORK}/qb-${vmm}.share"; done
  run=1
  while [ "${run}" -le "${QB_RUNS}" ]; do
    for vmm in ${QB_VMMS}; do
      qb_boot "${vmm}"
      if [ -z "${QB_MARK_MS}" ] || { [ "${vmm#microvm}" != "${vmm}" ] && [ -z "${QB_SHARE}" ]; }; then
        why=$(grep -v '^[[:space:]]*$' "${WORK}/qb-mark.log" | tail -n 3 | tr '\n' ' ' | cut -c1-240)
        [ -n "${why}" ] || why="last console line: $(grep -v '^[[:space:]]*$' "${WORK}/qb-console.log" | tail -n 1 | cut -c1-160)"
        failed="${failed} ${vmm} run ${run}: no ${QB_MARK_MS:+share line after the }marker (status ${QB_STATUS}, ${QB_HOW}; ${why});"
        continue
      fi
      echo "start_to_init_ms=${QB_MARK_MS} console_init_ms=${QB_CONSOLE_MS:-0}" \
        "kernel_uptime_at_init_s=${QB_UPTIME:-0} guest_errors=${QB_ERRORS}" >>"${WORK}/qb-${vmm}.runs"
      [ -z "${QB_SHARE}" ] || echo "${QB_SHARE}" >>"${WORK}/qb-${vmm}.share"
    done
    run=$((run + 1))
  done

  base=""
  for vmm in ${QB_VMMS}; do
    f=${WORK}/qb-${vmm}.runs
    n=$(wc -l <"${f}")
    [ "${n}" -gt 0 ] || continue
    med=$(qb_medians "${f}")
    ms=${med#start_to_init_ms=}; ms=${ms%% *}
    [ "${vmm}" != microvm ] || base=${ms}
    times=$(sed 's/^start_to_init_ms=\([0-9]*\).*/\1/' "${f}" | sort -n)
    echo "LAB-BENCH boot vmm=${vmm} start_to_init_ms=${ms}" \
      "ratio_to_microvm=$(awk -v a="${ms}" -v b="${base}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "none" }')" \
      "min_ms=$(echo "${times}" | head -n 1) max_ms=$(echo "${times}" | tail -n 1)" \
      "${med#start_to_init_ms=* }" "runs=${n}"
  done
  for vmm in ${QB_VMMS}; do
    [ -s "${WORK}/qb-${vmm}.share" ] || continue
    echo "LAB-BENCH boot_share vmm=${vmm} $(qb_medians "${WORK}/qb-${vmm}.share")"
  done
  for vmm in ${QB_VMMS}; do
    echo "LAB-BENCH boot_config vmm=${vmm} $(qb_config "${vmm}")"
  done
  if [ -n "${failed}" ]; then
    lab_result bench_qemu_boot FAIL "${failed}"
  else
    lab_result bench_qemu_boot PASS "${QB_RUNS} runs each of ${QB_VMMS} (LAB-BENCH boot lines above; ${qemu_version})"
  fi
}
