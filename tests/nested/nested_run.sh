#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs one command inside a small nested machine that has a working /dev/kvm:
# Debian's QEMU under TCG with nested SVM (-cpu EPYC,+svm), Debian's cloud
# kernel with irqbypass, kvm and kvm-amd loaded, and a busybox initramfs.
# (See ../shared/ENVIRONMENT.md beside this repository: boots in about 3 s; works on every
# machine here, with or without a host /dev/kvm.)
#
# Usage: nested_run.sh [options] -- COMMAND [ARG]...
#        nested_run.sh --prepare [--module ...]   (only build the cached base
#                             initramfs; tools/setup.sh runs this, because
#                             inside Bazel's sandbox the cache is read-only)
#   --dir GUEST=HOST     put the HOST tree (symlinks followed) at GUEST path
#   --file GUEST=HOST    put one HOST file at GUEST path
#   --libs-for HOST      also put the shared libraries and loader that the
#                        dynamically linked program HOST needs at their own
#                        paths (no-op for static programs)
#   --cwd DIR            working directory of COMMAND in the machine (default /)
#   --env NAME=VALUE     environment of COMMAND (PATH=/bin, HOME=/tmp, TERM=dumb preset)
#   --fetch GUEST=HOST   after COMMAND, copy file GUEST out to HOST (if it exists)
#   --timeout SECONDS    kill QEMU after this long (default 600)
#   --cpus N             vCPUs of the machine (default 1; see "One vCPU" below)
#   --mem MIB            memory of the machine (default 2048)
#   --machine SPEC       QEMU -M value (default q35)
#   --module PATH[ PARAMS]   extra kernel module to insmod after KVM's, PATH
#                        relative to lib/modules/<version>/kernel, without
#                        .ko/.ko.xz (e.g. "drivers/vfio/vfio")
#   --qemu-arg ARG       extra QEMU argument (repeat; e.g. -device edu)
#   --append TEXT        extra kernel command line
#
# COMMAND's stdout and stderr are streamed to this script's stdout as they
# come. Exit status: COMMAND's; 123 when the machine died (no CPU time for
# 60 s: the nested kernel stopped taking interrupts, see the watchdog below);
# 124 when the machine timed out; 125 when the machine failed before COMMAND
# finished (the kernel console's tail is shown).
#
# One vCPU: with two or more, QEMU 7.2's multi-threaded TCG now and then
# stalls the whole machine for good (seen ~1 run in 8 of the KVM tests: both
# vCPU threads spinning at 100 %, RIPs in asm_exc_int3, __schedule or a
# spinlock; KVM's VM create/destroy patches kernel text through int3 while the
# other vCPU runs it). -accel tcg,thread=single avoids that but then the
# inner (L2) guest hangs in 4 runs of 4. One vCPU had no stall in 80 KVM test
# runs and 8 lab runs; inner SMP guests still work (their vCPU threads share
# the one CPU). A time-out prints QEMU's threads and every vCPU's registers.
#
# Environment: MICROVM_CACHE (default /var/tmp/microvm-cache) holds the kernel
# from tools/setup.sh and the cached base initramfs; MICROVM_NESTED_VERBOSE=1
# also streams the kernel console to stderr. If TEST_UNDECLARED_OUTPUTS_DIR is
# set (bazel test), the console log is saved there as nested-console.log.
set -euo pipefail

readonly ME="nested-run"
readonly CACHE="${MICROVM_CACHE:-/var/tmp/microvm-cache}"
readonly KERNEL_DIR="${CACHE}/kernel"
SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SELF_DIR
# Loaded in this order; kvm needs irqbypass, kvm-amd needs kvm.
readonly KVM_MODULES=(virt/lib/irqbypass arch/x86/kvm/kvm arch/x86/kvm/kvm-amd)
# A machine whose QEMU uses no CPU time for this long is dead (see the
# watchdog below); checked this often.
readonly STALL_SECONDS="${MICROVM_NESTED_STALL_SECONDS:-60}" STALL_CHECK_SECONDS=5

die() { echo "${ME}: error: $*" >&2; exit 125; }

dirs=() files=() libs_for=() envs=() fetches=() modules=() qemu_args=()
cwd=/ timeout=600 cpus=1 mem=2048 machine=q35 append="" prepare=0
while (( $# )); do
  case "$1" in
    --dir) dirs+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    --libs-for) libs_for+=("$2"); shift 2 ;;
    --cwd) cwd="$2"; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --fetch) fetches+=("$2"); shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --machine) machine="$2"; shift 2 ;;
    --module) modules+=("$2"); shift 2 ;;
    --qemu-arg) qemu_args+=("$2"); shift 2 ;;
    --append) append="$2"; shift 2 ;;
    --prepare) prepare=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '3,/^set -/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (try --help)" ;;
  esac
done
(( $# )) || [[ ${prepare} == 1 ]] || die "no command given (usage: nested_run.sh [options] -- COMMAND [ARG]...)"

[[ -s ${KERNEL_DIR}/vmlinuz && -s ${KERNEL_DIR}/version ]] ||
  die "no kernel in ${KERNEL_DIR}; run tools/setup.sh"
version=$(cat "${KERNEL_DIR}/version")
moddir="${KERNEL_DIR}/root/lib/modules/${version}/kernel"
[[ -d ${moddir} ]] || die "no modules in ${moddir}; run tools/setup.sh --refresh-kernel"
for tool in qemu-system-x86_64 cpio sha256sum; do
  command -v "${tool}" >/dev/null || die "${tool} not found; run tools/setup.sh"
done
busybox=/bin/busybox
[[ -x ${busybox} ]] || die "no ${busybox}; run tools/setup.sh (busybox-static)"

# Single-quote a word for the guest's busybox sh.
quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/nested-run.XXXXXX")
qemu_pid=""
tail_pids=()
monitor_reader=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [[ -n ${qemu_pid} ]] && kill -0 "${qemu_pid}" 2>/dev/null; then
    kill -KILL "${qemu_pid}" 2>/dev/null || true
    wait "${qemu_pid}" 2>/dev/null || true
  fi
  for p in "${tail_pids[@]}" ${monitor_reader}; do kill "${p}" 2>/dev/null || true; done
  rm -rf "${work}"
  rm -f "${CACHE}/initramfs/base-"*.tmp.$$ 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "${ME}: interrupted; stopping QEMU" >&2; exit 130' INT TERM HUP

# --- base initramfs: busybox, modules, init; cached by content ---------------
all_modules=("${KVM_MODULES[@]}" "${modules[@]}")
module_lines=""
for spec in "${all_modules[@]}"; do
  read -r mod params <<<"${spec}"
  module_lines+="${mod##*/}.ko${params:+ ${params}}"$'\n'
done
key=$( { echo "${version}"; cat "${SELF_DIR}/init.sh"; echo "${module_lines}";
         stat -L -c '%s %Y' "${busybox}"; } | sha256sum | cut -c1-16)

build_base() {  # $1: output file
  local root="${work}/base"
  mkdir -p "${root}"/{bin,etc/microvm,lib/modules,proc,sys,dev,tmp,job,root}
  cp "${busybox}" "${root}/bin/busybox"
  local applet
  for applet in $("${busybox}" --list); do
    [[ ${applet} == busybox ]] || ln -s busybox "${root}/bin/${applet}"
  done
  ln -s bin "${root}/sbin"
  install -m 0755 "${SELF_DIR}/init.sh" "${root}/init"
  local spec mod params
  for spec in "${all_modules[@]}"; do
    read -r mod params <<<"${spec}"
    if [[ -f ${moddir}/${mod}.ko ]]; then
      cp "${moddir}/${mod}.ko" "${root}/lib/modules/"
    elif [[ -f ${moddir}/${mod}.ko.xz ]]; then
      # busybox insmod cannot read compressed modules (6.12 kernels ship .ko.xz).
      xz -dc "${moddir}/${mod}.ko.xz" >"${root}/lib/modules/${mod##*/}.ko"
    else
      die "kernel ${version} has no module ${mod}.ko or .ko.xz under ${moddir}"
    fi
  done
  printf '%s' "${module_lines}" >"${root}/etc/microvm/modules"
  (cd "${root}" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$1"
}

base="${CACHE}/initramfs/base-${key}.cpio"
if [[ ! -s ${base} ]]; then
  if mkdir -p "${CACHE}/initramfs" 2>/dev/null && [[ -w ${CACHE}/initramfs ]]; then
    find "${CACHE}/initramfs" -name 'base-*.cpio' -mtime +7 -delete 2>/dev/null || true
    # Build beside the final name and rename: concurrent runs never see half a file.
    build_base "${base}.tmp.$$"
    mv -f "${base}.tmp.$$" "${base}"
  else
    # Read-only cache (e.g. inside a sandbox): build a private copy.
    [[ ${prepare} == 0 ]] || die "cannot write the cache ${CACHE}/initramfs"
    echo "${ME}: note: base initramfs not cached and ${CACHE} is read-only here;" \
      "building a private one (tools/setup.sh caches it)" >&2
    base="${work}/base.cpio"
    build_base "${base}"
  fi
fi
if [[ ${prepare} == 1 ]]; then
  echo "${ME}: base initramfs ready: ${base}"
  exit 0
fi

# --- job initramfs: the files, the command and what to fetch back ------------
job="${work}/job"
mkdir -p "${job}/job"
place() {  # $1 GUEST=HOST: a symlink in the job tree that cpio -L follows
  local guest="${1%%=*}" host="${1#*=}"
  [[ ${guest} == /* && $1 == *=* ]] || die "expected GUEST=HOST with an absolute GUEST path, got '$1'"
  [[ -e ${host} ]] || die "no such file or directory: ${host}"
  mkdir -p "${job}$(dirname "${guest}")"
  ln -sfn "$(readlink -f "${host}")" "${job}${guest}"
}
for d in "${dirs[@]}"; do place "${d}"; done
for f in "${files[@]}"; do place "${f}"; done
for program in "${libs_for[@]}"; do
  [[ -f ${program} ]] || die "--libs-for: no such file ${program}"
  # ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and
  # "/lib64/ld-linux-x86-64.so.2 (0x...)"; static programs have neither.
  for lib in $(LC_ALL=C ldd "${program}" 2>/dev/null |
               sed -n 's/.*=> \(\/[^ ]*\) (.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
    [[ -e ${job}${lib} ]] || place "${lib}=${lib}"
  done
done
{
  # TERM=dumb: stdout is a serial tty in there; keep gtest & co. from coloring logs.
  echo "export PATH=/bin HOME=/tmp TERM=dumb"
  for e in "${envs[@]}"; do
    [[ ${e} == [A-Za-z_]*=* ]] || die "expected NAME=VALUE for --env, got '${e}'"
    echo "export ${e%%=*}=$(quote "${e#*=}")"
  done
  echo "cd $(quote "${cwd}") || exit 127"
  printf 'exec'
  for a in "$@"; do printf ' %s' "$(quote "${a}")"; done
  echo
} >"${job}/job/run.sh"
n=0
for f in "${fetches[@]}"; do
  [[ ${f} == /*=* ]] || die "expected GUEST=HOST for --fetch, got '${f}'"
  echo "${n} ${f%%=*}" >>"${job}/job/fetch"
  n=$((n + 1))
done
# find -L descends into the symlinked trees; cpio -L stores what they point to.
(cd "${job}" && find -L . | LC_ALL=C sort | cpio -o -H newc -L -R 0:0 --quiet) \
  >"${work}/job.cpio" || die "packing the job's files with cpio failed"
cat "${base}" "${work}/job.cpio" >"${work}/initrd.cpio"

# --- run ----------------------------------------------------------------------
console="${work}/console.log" output="${work}/output.log" control="${work}/control.log"
: >"${console}"; : >"${output}"; : >"${control}"
# QEMU's monitor on two FIFOs (QEMU opens both read-write, so neither open
# blocks): on a time-out the watchdog asks it where every vCPU is.
monitor="${work}/monitor"
mkfifo "${monitor}.in" "${monitor}.out"
cat "${monitor}.out" >"${work}/monitor.log" &
monitor_reader=$!
start=$(date +%s.%N)
qemu-system-x86_64 \
  -M "${machine}" -accel tcg -cpu EPYC,+svm -smp "${cpus}" -m "${mem}" \
  -nodefaults -display none -no-reboot -no-user-config \
  -kernel "${KERNEL_DIR}/vmlinuz" -initrd "${work}/initrd.cpio" \
  -append "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 ${append}" \
  -serial "file:${console}" -serial "file:${output}" -serial "file:${control}" \
  -monitor "pipe:${monitor}" \
  "${qemu_args[@]}" \
  >"${work}/qemu.log" 2>&1 &
qemu_pid=$!
# Stream the command's output (and, if asked, the console) while it runs.
tail -s 0.2 -n +1 -f --pid="${qemu_pid}" "${output}" &
tail_pids+=($!)
if [[ ${MICROVM_NESTED_VERBOSE:-0} != 0 ]]; then
  tail -s 0.2 -n +1 -f --pid="${qemu_pid}" "${console}" >&2 &
  tail_pids+=($!)
fi
# CPU time (user+system ticks) of each QEMU thread: "tid name ticks".
thread_ticks() {
  local t
  for t in /proc/"${qemu_pid}"/task/*; do
    # comm may hold spaces; the fields after ") " are fixed.
    local stat rest
    stat=$(cat "${t}/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    read -r -a f <<<"${rest}"
    echo "${t##*/} $(tr ' ' _ <"${t}/comm") state=${f[0]} ticks=$(( f[11] + f[12] ))"
  done
}

# What a stalled machine was doing: QEMU's threads (which of them burn CPU)
# and each vCPU's registers. To name the RIPs, reproduce with --append
# nokaslr and take the symbols of another nokaslr run:
#   nested_run.sh --append nokaslr -- cat /proc/kallsyms | sort >kallsyms
record_stall() {
  echo "QEMU threads, then again 2 s later (ticks = user+system CPU time):"
  thread_ticks; sleep 2; thread_ticks
  echo "info cpus / info registers -a:"
  local before
  before=$(wc -c <"${work}/monitor.log")
  printf 'info cpus\ninfo registers -a\ninfo lapic\n' >"${monitor}.in"
  sleep 2
  tail -c +"$((before + 1))" "${work}/monitor.log" | tr -d '\r' |
    grep -E '^(CPU|\*?[[:space:]]*CPU #|RAX|RSI|R8 |R12|RIP|CS |CR0|EFER|dumping|LVT|Timer|SPIV|ICR|ESR|ISR|IRR|APR|PPR)' ||
    echo "(monitor did not answer)"
}

# Total CPU ticks of QEMU's threads.
qemu_ticks() { thread_ticks | awk '{sub("ticks=", "", $4); t += $4} END {print t + 0}'; }

# The watchdog must not hold this script's stdout/stderr (a reader of a pipe
# would wait for its sleep to end) and must take its sleep along when killed.
# Besides the time-out it watches for a dead machine: the nested kernel now
# and then stops taking timer interrupts for good (seen in CI on 2026-12-04:
# the vCPU halted in the idle loop with interrupts on and the test's own
# 600 s watchdog never fired; ../shared/ENVIRONMENT.md has the machine's
# lost wake-ups). A live machine, even one that only sleeps, costs QEMU a
# few ticks every 20 s (6 to 8 measured); a dead one costs none. No tick in
# STALL_SECONDS ends the run at once, with status 123, instead of at the
# time-out.
(
  trap 'kill "${sleeper}" 2>/dev/null; exit 0' TERM
  deadline=$(( $(date +%s) + timeout ))
  last_ticks=-1 still=0
  while (( $(date +%s) < deadline )); do
    sleep "${STALL_CHECK_SECONDS}" & sleeper=$!
    wait "${sleeper}"
    ticks=$(qemu_ticks)
    if [[ ${ticks} == "${last_ticks}" ]]; then
      still=$(( still + STALL_CHECK_SECONDS ))
    else
      still=0
    fi
    last_ticks=${ticks}
    if (( still >= STALL_SECONDS )); then
      touch "${work}/stalled"
      break
    fi
  done
  [[ -e ${work}/stalled ]] || touch "${work}/timed-out"
  record_stall >"${work}/stall.log" 2>&1
  kill -TERM "${qemu_pid}" 2>/dev/null
  sleep 5
  kill -KILL "${qemu_pid}" 2>/dev/null
) </dev/null >/dev/null 2>&1 &
watchdog=$!
qemu_status=0
wait "${qemu_pid}" || qemu_status=$?
kill "${watchdog}" 2>/dev/null || true
wait "${watchdog}" 2>/dev/null || true
for p in "${tail_pids[@]}"; do wait "${p}" 2>/dev/null || true; done
tail_pids=()
# (Not waited for: had QEMU failed before opening the FIFO, it would block.)
kill "${monitor_reader}" 2>/dev/null || true
elapsed=$(echo "${start} $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')

if [[ -n ${TEST_UNDECLARED_OUTPUTS_DIR:-} && -d ${TEST_UNDECLARED_OUTPUTS_DIR} ]]; then
  cp "${console}" "${TEST_UNDECLARED_OUTPUTS_DIR}/nested-console.log" 2>/dev/null || true
fi

show_console() {
  echo "${ME}: last kernel console lines:" >&2
  tail -n 25 "${console}" | tr -d '\r' | sed 's/^/  | /' >&2
  if grep -qv "TCG doesn't support requested feature" "${work}/qemu.log"; then
    echo "${ME}: QEMU said:" >&2
    grep -v "TCG doesn't support requested feature" "${work}/qemu.log" | sed 's/^/  | /' >&2
  fi
}

tr -d '\r' <"${control}" >"${control}.clean"
if [[ -e ${work}/stalled ]]; then
  echo "${ME}: error: the nested machine died: QEMU used no CPU time for ${STALL_SECONDS} s" \
    "(its kernel stopped taking interrupts; not the command's doing); QEMU killed" >&2
  show_console
  echo "${ME}: the machine when it was found dead:" >&2
  sed 's/^/  | /' "${work}/stall.log" >&2 || true
  exit 123
fi
if [[ -e ${work}/timed-out ]]; then
  echo "${ME}: error: timed out after ${timeout} s; QEMU killed" >&2
  show_console
  echo "${ME}: the machine at the time-out:" >&2
  sed 's/^/  | /' "${work}/stall.log" >&2 || true
  exit 124
fi
err=$(sed -n 's/^mvm-ctl: error //p' "${control}.clean" | head -n1)
if [[ -n ${err} ]]; then
  echo "${ME}: error: machine set-up failed: ${err}" >&2
  show_console
  exit 125
fi
status=$(sed -n 's/^mvm-ctl: exit \([0-9]*\)$/\1/p' "${control}.clean" | tail -n1)
if [[ -z ${status} ]]; then
  echo "${ME}: error: machine stopped after ${elapsed} s before the command finished" \
    "(QEMU status ${qemu_status}; kernel panic or crash?)" >&2
  show_console
  exit 125
fi

# Decode fetched files: lines between "file <n>" and "end <n>".
n=0
for f in "${fetches[@]}"; do
  host="${f#*=}"
  if grep -qx "mvm-ctl: file ${n}" "${control}.clean"; then
    sed -n "/^mvm-ctl: file ${n}\$/,/^mvm-ctl: end ${n}\$/{/^mvm-ctl: /d;p}" "${control}.clean" |
      base64 -d >"${host}" || die "could not decode fetched file ${f%%=*}"
  fi
  n=$((n + 1))
done

echo "${ME}: command exited with status ${status}; machine ran ${elapsed} s" >&2
exit "${status}"
