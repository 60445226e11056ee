#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# shellcheck disable=SC2317,SC2034 # the scenarios call these functions and read these variables.
# The lab agent: runs as the command of the lab machine (busybox sh, started
# by tools/lab/lab.sh through tests/nested/nested_run.sh). It
#   1. lists the PCI devices with their IOMMU groups and drivers,
#   2. binds the chosen devices to vfio-pci (driver_override + drivers_probe),
#   3. runs each scenario (tools/lab/scenarios/<name>.sh, which defines
#      run_scenario) and reports one or more lines
#        LAB-RESULT <scenario> PASS|FAIL <detail>
# Exit status: 0 when every scenario reported only PASS, else 1.
#
# Usage: agent.sh [--bind VENDOR:DEVICE]... SCENARIO...
# Files (put there by lab.sh): /lab/microvm (static), /lab/vmlinux (inner
# kernel, uncompressed: the ELF out of /lab/vmlinuz, the bzImage, which the
# guide and bench_qemu_boot boot), /lab/inner.cpio.gz (inner initramfs,
# tools/lab/inner_init.sh),
# /lab/scenarios/*.sh. Environment: LAB_CMD (scenario "cmd"), LAB_INNER_TIMEOUT
# (seconds one inner boot may take, default 90), LAB_INNER_QUIET (0: the
# inner kernel logs to the console at its default level), LAB_SHM_TOKEN
# (scenario "ivshmem"), LAB_BIG_SHM_SIZE and LAB_BIG_SHM_TOKEN (scenario
# "vfio_large_bar"), LAB_ROM_SHA256 (scenario "vfio_rom").
#
# Other machine-readable lines: "LAB-PCI <bdf> <vendor>:<device> group=<g>
# driver=<d> <name>", "LAB-BIND <name> <bdf> group=<g> OK|FAILED <why>" and
# "LAB-SANDBOX <scenario>: ..." (what sandbox_sampler saw).
# The inner guest's console is echoed with the prefix "inner| ".

LAB=/lab
MICROVM=${LAB}/microvm
# The uncompressed kernel: in the lab it reaches the init ~7% sooner than
# the bzImage it came from (bench_qemu_boot, 7 of 7 interleaved pairs).
INNER_KERNEL=${LAB}/vmlinux
INNER_BZIMAGE=${LAB}/vmlinuz
INNER_INITRD=${LAB}/inner.cpio.gz
INNER_TIMEOUT=${LAB_INNER_TIMEOUT:-90}
# microvm's own default (vmm/cli.h kDefaultCmdline); --cmdline replaces it.
# "quiet" unless LAB_INNER_QUIET=0: each console byte costs about 1 ms in
# the nested set-up, so the full kernel log (~20 KB) doubles the boot time.
INNER_CMDLINE_BASE="console=ttyS0 reboot=k panic=-1 i8042.noaux"
[ "${LAB_INNER_QUIET:-1}" = 0 ] || INNER_CMDLINE_BASE="${INNER_CMDLINE_BASE} quiet"
CR=$(printf '\r')
RESULTS=/tmp/lab-results
WORK=/tmp/lab-work
mkdir -p "${WORK}"
: >"${RESULTS}"

# Vendor:device -> short name, for the devices QEMU gives the lab.
pci_name() {
  case "$1" in
    1234:11e8) echo edu ;;
    1af4:1110) echo ivshmem ;;
    1b36:0010) echo nvme ;;
    *) echo "-" ;;
  esac
}

# Seconds since this machine booted, with hundredths (a shell builtin read,
# no fork, so it can stamp every console line).
now() { read -r _now _ </proc/uptime; echo "${_now}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

lab_result() {  # NAME PASS|FAIL DETAIL...
  _n=$1 _v=$2
  shift 2
  echo "LAB-RESULT ${_n} ${_v} $*" | tee -a "${RESULTS}"
}

# --- PCI devices ---------------------------------------------------------------
pci_id() { echo "$(sed 's/^0x//' "$1/vendor"):$(sed 's/^0x//' "$1/device")"; }
pci_group() {
  if [ -e "$1/iommu_group" ]; then basename "$(readlink "$1/iommu_group")"; else echo none; fi
}
pci_driver() {
  if [ -e "$1/driver" ]; then basename "$(readlink "$1/driver")"; else echo -; fi
}

# The first device with vendor:device $1 (its sysfs name), or nothing.
pci_first() {
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = "$1" ] && { echo "${d##*/}"; return; }
  done
}

list_pci() {
  for d in /sys/bus/pci/devices/*; do
    id=$(pci_id "${d}")
    echo "LAB-PCI ${d##*/} ${id} group=$(pci_group "${d}") driver=$(pci_driver "${d}") $(pci_name "${id}")"
  done
}

# Binds every device with vendor:device $1 to vfio-pci. driver_override
# (Linux 3.16+) wins over ID tables, so this also takes a device away from
# a driver that already claimed it (nvme).
bind_vfio() {
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = "$1" ] || continue
    bdf=${d##*/} name=$(pci_name "$1") group=$(pci_group "${d}")
    echo vfio-pci >"${d}/driver_override"
    if [ -e "${d}/driver" ] && [ "$(pci_driver "${d}")" != vfio-pci ]; then
      echo "${bdf}" >"${d}/driver/unbind"
    fi
    [ -e "${d}/driver" ] || echo "${bdf}" >/sys/bus/pci/drivers_probe 2>/dev/null
    if [ "$(pci_driver "${d}")" = vfio-pci ] && [ -c "/dev/vfio/${group}" ]; then
      echo "LAB-BIND ${name} ${bdf} group=${group} OK /dev/vfio/${group}"
    else
      echo "LAB-BIND ${name} ${bdf} group=${group} FAILED driver=$(pci_driver "${d}")," \
        "/dev/vfio/${group} $( [ -e "/dev/vfio/${group}" ] && echo exists || echo missing)"
    fi
  done
}

# --- the inner guest -----------------------------------------------------------
# Runs "$@" (after the first word, a delay in seconds) in the background
# unless killed first; a kill takes the sleep along, so nothing lingers.
# Sets AFTER_PID.
after() {
  _delay=$1
  shift
  (
    trap 'kill "${_sleeper}" 2>/dev/null; exit 0' TERM
    sleep "${_delay}" &
    _sleeper=$!
    wait "${_sleeper}" && "$@"
  ) </dev/null >/dev/null 2>&1 &
  AFTER_PID=$!
}
# Kills the running microvm ($pid in inner_boot) and leaves a note $1.
kill_microvm() { touch "${WORK}/$1"; kill -KILL "${pid}" 2>/dev/null; }

# inner_boot [--cpus N] [--mem MIB] [--end poweroff|reboot|halt] [--grace S]
#            [--cmd SHELL-COMMAND] [--timeout S]
# Boots the inner kernel with microvm, echoes its console and sets:
#   INNER_STATUS     microvm's exit status (137 when the agent killed it)
#   INNER_TIMED_OUT  1 when killed after --timeout
#   INNER_KILLED_AFTER_END  1 when killed --grace s after the inner init said
#                    it was ending (poweroff/reboot that did not stop microvm)
#   INNER_INIT_S     seconds from microvm's start to "LAB-INNER: init reached"
#                    as seen here ("" when never seen)
#   INNER_KERNEL_S   the inner kernel's uptime at that marker
#   INNER_VCPUS_MS, INNER_BOOT_TIMER_MS  microvm's own boot timer: ms from
#                    its start to the vCPUs' start and to the inner init
#   INNER_NPROC      online CPUs the inner guest reported
#   INNER_CMD_STATUS the command's exit status ("" when it did not finish)
#   INNER_WALL_S     seconds microvm ran
#   INNER_LOG        the console, \r removed; INNER_OUT: the command's output
inner_boot() {
  cpus=1 mem=256 end=reboot cmd="" timeout=${INNER_TIMEOUT} grace=10
  while [ $# -gt 0 ]; do
    case "$1" in
      --cpus) cpus=$2 ;;
      --mem) mem=$2 ;;
      --end) end=$2 ;;
      --cmd) cmd=$2 ;;
      --timeout) timeout=$2 ;;
      --grace) grace=$2 ;;
      *) echo "inner_boot: unknown option $1" >&2; return 2 ;;
    esac
    shift 2
  done
  INNER_LOG=${WORK}/console.log INNER_OUT=${WORK}/output.log
  INNER_STATUS="" INNER_TIMED_OUT=0 INNER_KILLED_AFTER_END=0 INNER_INIT_S=""
  INNER_KERNEL_S="" INNER_NPROC="" INNER_CMD_STATUS="" INNER_WALL_S=""
  INNER_VCPUS_MS="" INNER_BOOT_TIMER_MS=""
  : >"${INNER_LOG}"; : >"${INNER_OUT}"
  rm -f "${WORK}/timed-out" "${WORK}/fifo"
  mkfifo "${WORK}/fifo"
  cmdline="${INNER_CMDLINE_BASE} lab.end=${end}"
  [ -z "${cmd}" ] || cmdline="${cmdline} lab.cmd=$(printf '%s' "${cmd}" | base64 -w 0)"
  echo "LAB-AGENT: microvm --kernel ${INNER_KERNEL##*/} --initrd inner.cpio.gz --mem ${mem} --cpus ${cpus} --cmdline '${cmdline}' ${INNER_EXTRA_ARGS:-}"
  t0=$(now)
  # INNER_EXTRA_ARGS: more microvm flags from the scenario (e.g. --vfio BDF,
  # --pci_test_device), split on spaces.
  # shellcheck disable=SC2086
  "${MICROVM}" --kernel "${INNER_KERNEL}" --initrd "${INNER_INITRD}" \
    --mem "${mem}" --cpus "${cpus}" --cmdline "${cmdline}" --boot_timer ${INNER_EXTRA_ARGS:-} \
    >"${WORK}/fifo" 2>&1 &
  pid=$!
  after "${timeout}" kill_microvm timed-out
  watchdog=${AFTER_PID}
  ender="" in_output=0
  # No forks per line: under TCG each costs milliseconds.
  while IFS= read -r line; do
    read -r t _ </proc/uptime
    line=${line%"${CR}"}
    printf '%s\n' "${line}" >>"${INNER_LOG}"
    printf 'inner| %s\n' "${line}"
    case "${line}" in
      *"LAB-INNER: output end status="*)
        in_output=0
        INNER_CMD_STATUS=${line##*status=} ;;
    esac
    [ "${in_output}" = 0 ] || printf '%s\n' "${line}" >>"${INNER_OUT}"
    case "${line}" in
      *"LAB-INNER: init reached uptime="*)
        INNER_INIT_S=$(elapsed "${t0}" "${t}")
        INNER_KERNEL_S=${line##*uptime=}
        echo "LAB-AGENT: inner init reached ${INNER_INIT_S} s after microvm started (inner kernel uptime ${INNER_KERNEL_S} s)" ;;
      *"LAB-INNER: nproc="*) INNER_NPROC=${line##*nproc=} ;;
      *"microvm: boot timer: vCPUs start at "*)
        INNER_VCPUS_MS=${line##*start at }; INNER_VCPUS_MS=${INNER_VCPUS_MS%% *} ;;
      *"microvm: boot timer: guest marker 123 (init) at "*)
        INNER_BOOT_TIMER_MS=${line##*(init) at }; INNER_BOOT_TIMER_MS=${INNER_BOOT_TIMER_MS%% *}
        echo "LAB-AGENT: boot timer: vCPUs started ${INNER_VCPUS_MS} ms and the inner init ${INNER_BOOT_TIMER_MS} ms after microvm started (microvm's clock)" ;;
      *"LAB-INNER: output begin"*) in_output=1 ;;
      *"LAB-INNER: ending with "*)
        if [ -z "${ender}" ]; then
          after "${grace}" kill_microvm killed-after-end
          ender=${AFTER_PID}
        fi ;;
    esac
  done <"${WORK}/fifo"
  wait "${pid}"
  INNER_STATUS=$?
  INNER_WALL_S=$(elapsed "${t0}" "$(now)")
  kill "${watchdog}" 2>/dev/null
  [ -z "${ender}" ] || kill "${ender}" 2>/dev/null
  [ ! -e "${WORK}/timed-out" ] || INNER_TIMED_OUT=1
  if [ -e "${WORK}/killed-after-end" ]; then
    INNER_KILLED_AFTER_END=1
    rm -f "${WORK}/killed-after-end"
  fi
  echo "LAB-AGENT: microvm exited with status ${INNER_STATUS} after ${INNER_WALL_S} s" \
    "(timed out: ${INNER_TIMED_OUT}, killed ${grace} s after the guest's end: ${INNER_KILLED_AFTER_END})"
  rm -f "${WORK}/fifo"
}

# console_wait TEXT: waits up to 150 s for TEXT in the console log of the
# inner_boot running meanwhile (${WORK}/console.log: empty it first);
# returns 1 if it never came.
console_wait() {
  _i=0
  while ! grep -q "$1" "${WORK}/console.log" 2>/dev/null; do
    [ "${_i}" -lt 1500 ] || return 1
    sleep 0.1
    _i=$((_i + 1))
  done
}

# Reports FAIL for scenario $1 and returns 1 unless the inner guest really
# booted: its init printed the marker (an exit status alone proves nothing).
inner_check_booted() {
  if [ -n "${INNER_INIT_S}" ]; then return 0; fi
  why="inner init never reached (microvm status ${INNER_STATUS}"
  [ "${INNER_TIMED_OUT}" = 0 ] || why="${why}, killed after ${INNER_TIMEOUT} s"
  last=$(grep -v '^[[:space:]]*$' "${INNER_LOG}" | tail -n 1 | cut -c1-160)
  lab_result "$1" FAIL "${why}); last console line: ${last:-<none>}"
  return 1
}

# --- the sandbox, in every scenario ---------------------------------------------
# While a scenario runs, sandbox_sampler looks at every thread of every
# microvm process four times a second, once it has a vCPU thread (the guest
# runs: the main thread's filter is in place before the first vCPU thread
# exists), and writes "pid tid name Seccomp NoNewPrivs CapEff" lines.
# Builtins only (no fork per sample): the lab has one CPU. Not for the
# bench_* scenarios, whose numbers it would disturb.
sandbox_sampler() {
  _comm=${MICROVM##*/}
  while :; do
    for p in /proc/[0-9]*; do
      read -r _c <"${p}/comm" 2>/dev/null || continue
      [ "${_c}" = "${_comm}" ] || continue
      _threads="" _vcpu=0
      for t in "${p}"/task/*; do
        read -r _n <"${t}/comm" 2>/dev/null || continue
        case "${_n}" in vcpu*) _vcpu=1 ;; esac
        _threads="${_threads} ${t##*/}:${_n}"
      done
      [ "${_vcpu}" = 1 ] || continue
      for tn in ${_threads}; do
        _s="" _p="" _e=""
        while read -r _k _v _; do
          case "${_k}" in
            Seccomp:) _s=${_v} ;;
            NoNewPrivs:) _p=${_v} ;;
            CapEff:) _e=${_v} ;;
          esac
        done <"${p}/task/${tn%%:*}/status" 2>/dev/null
        [ -n "${_s}" ] && echo "${p#/proc/} ${tn%%:*} ${tn#*:} ${_s} ${_p} ${_e}"
      done
    done
    sleep 0.25
  done
}

# sandbox_verdict SCENARIO FILE: FAIL unless every sampled thread was under
# its filter, without privileges; a thread may be seen once or twice on its
# way in (it names itself just before installing its filter).
sandbox_verdict() {
  [ -s "$2" ] || { echo "LAB-SANDBOX $1: no microvm ran with a vCPU"; return; }
  bad=$(awk '$4 != 2 || $5 != 1 || $6 != "0000000000000000" { n[$1 " " $2 " " $3]++ }
             END { for (k in n) if (n[k] > 2) print k " (" n[k] " samples)" }' "$2")
  if [ -n "${bad}" ]; then
    lab_result "$1" FAIL "sandbox: threads not under their filter or holding privileges: $(echo "${bad}" | tr '\n' ';' | cut -c1-300)"
    return
  fi
  echo "LAB-SANDBOX $1: $(awk '{ p[$1]; t[$1 " " $2]; n++ } END { print length(p) " microvm processes, " length(t) " threads, " n " samples: Seccomp 2, NoNewPrivs 1, CapEff 0" }' "$2")"
}

# --- main ----------------------------------------------------------------------
binds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --bind) binds="${binds} $2"; shift 2 ;;
    --) shift; break ;;
    -*) echo "agent: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "agent: no scenario given" >&2; exit 2; }

echo "LAB-AGENT: lab machine up after $(now) s; kernel $(uname -r); cmdline: $(cat /proc/cmdline)"
list_pci
for id in ${binds}; do bind_vfio "${id}"; done

for scenario in "$@"; do
  file="${LAB}/scenarios/${scenario}.sh"
  echo "LAB-AGENT: scenario ${scenario}"
  if [ ! -f "${file}" ]; then
    lab_result "${scenario}" FAIL "no such scenario (have: $(cd "${LAB}/scenarios" && ls | grep -v '^_' | sed 's/\.sh$//' | tr '\n' ' '))"
    continue
  fi
  unset -f run_scenario 2>/dev/null
  # shellcheck disable=SC1090 # the scenario is chosen at run time.
  . "${file}"
  samples=${WORK}/sandbox-samples-${scenario}
  : >"${samples}"
  sampler=""
  case "${scenario}" in
    bench_*) ;;
    *) sandbox_sampler >"${samples}" 2>/dev/null & sampler=$! ;;
  esac
  run_scenario
  if [ -n "${sampler}" ]; then
    kill "${sampler}" 2>/dev/null
    wait "${sampler}" 2>/dev/null
    sandbox_verdict "${scenario}" "${samples}"
  fi
  grep -q "^LAB-RESULT ${scenario} " "${RESULTS}" ||
    lab_result "${scenario}" FAIL "scenario reported no result"
done

if grep -q '^LAB-RESULT [^ ]* FAIL' "${RESULTS}"; then exit 1; fi
exit 0
