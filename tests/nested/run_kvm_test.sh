#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The KVM test runner: the sh_test that tests/kvm_test.bzl wraps around every
# test binary needing /dev/kvm.
#
# Usage: run_kvm_test.sh --probe=PATH --nested-run=PATH [--cpus=N] [--mem=MIB]
#                        [--valgrind-supp=PATH] -- TEST_BINARY [ARG]...
# (paths relative to the runfiles workspace directory, as $(rootpath) gives.)
#
# --valgrind-supp=PATH runs the (dynamically linked) binary under valgrind's
# memcheck with that suppression file, on the host or nested alike: any
# memcheck error, or a definitely or indirectly lost block at exit, ends it
# with status 99 (--error-exitcode). Nested, the runner puts valgrind (its
# launcher, the memcheck tool, its preload libraries, default.supp and the
# libraries' detached debug info) into the machine at the host's paths.
# MICROVM_VALGRIND_OPTS (bazel test --test_env=...) adds valgrind options.
#
# Path chosen, printed as the first line:
#   "kvm-runner: host /dev/kvm"   MICROVM_TEST_NESTED unset or 0 and kvm_probe
#                                 passes on the host: the binary runs directly.
#   "kvm-runner: nested machine (why)"   otherwise: the binary runs inside the
#                                 nested machine (nested_run.sh) with the whole
#                                 runfiles tree, the same cwd, TEST_SRCDIR,
#                                 TEST_WORKSPACE and a private TEST_TMPDIR; its
#                                 gtest XML is copied to $XML_OUTPUT_FILE.
# Exit status is the test's (124 for a nested-machine timeout, 125 for a
# nested machine that failed before the test finished, 123 for one that died
# twice, 99 for valgrind errors). A nested machine that dies under the test
# (its kernel stops taking interrupts; see nested_run.sh) is reported and the
# test runs once more in a new one.
set -euo pipefail

readonly ME="kvm-runner"
readonly VALGRIND_ERROR_STATUS=99
die() { echo "${ME}: error: $*" >&2; exit 125; }

probe="" nested_run="" cpus=1 mem=2048 valgrind_supp=""
while (( $# )); do
  case "$1" in
    --probe=*) probe="${1#*=}" ;;
    --nested-run=*) nested_run="${1#*=}" ;;
    --cpus=*) cpus="${1#*=}" ;;
    --mem=*) mem="${1#*=}" ;;
    --valgrind-supp=*) valgrind_supp="${1#*=}" ;;
    --) shift; break ;;
    *) die "unknown option '$1' (usage: run_kvm_test.sh --probe=P --nested-run=P -- BINARY [ARG]...)" ;;
  esac
  shift
done
(( $# )) || die "no test binary given"
[[ -n ${probe} && -n ${nested_run} ]] || die "--probe and --nested-run are required"
binary="$1"
shift

# Outside `bazel test` (e.g. running bazel-bin/pkg/foo_test by hand), find the
# runfiles tree beside the script the way Bazel would have set it up.
if [[ -z ${TEST_SRCDIR:-} ]]; then
  [[ -d $0.runfiles ]] || die "TEST_SRCDIR is unset and there is no $0.runfiles; run through bazel test"
  export TEST_SRCDIR="$0.runfiles"
  export TEST_WORKSPACE="${TEST_WORKSPACE:-microvm}"
  cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
fi
[[ -x ${binary} ]] || die "test binary ${binary} not found in $(pwd)"

# --- valgrind (optional) -------------------------------------------------------
# valgrind: the command prefix; valgrind_files: nested_run.sh options that put
# valgrind into the machine at the host's paths.
valgrind=() valgrind_files=()
if [[ -n ${valgrind_supp} ]]; then
  [[ -f ${valgrind_supp} ]] || die "valgrind suppression file ${valgrind_supp} not found"
  launcher=$(command -v valgrind) || die "valgrind is not installed; run tools/setup.sh"
  # The tools live in VALGRIND_LIB or the directory compiled into the launcher.
  tool_dir=""
  for d in ${VALGRIND_LIB:-} /usr/libexec/valgrind /usr/lib/x86_64-linux-gnu/valgrind /usr/lib/valgrind; do
    if [[ -x ${d}/memcheck-amd64-linux ]]; then tool_dir="${d}"; break; fi
  done
  [[ -n ${tool_dir} ]] ||
    die "valgrind's memcheck-amd64-linux not found (VALGRIND_LIB, /usr/libexec/valgrind); run tools/setup.sh"
  # Leaks: only definitely and indirectly lost blocks fail the test; "possibly
  # lost" (interior pointers) and "still reachable" (process-lifetime
  # singletons of gtest, Abseil, libstdc++) do not. MICROVM_VALGRIND_OPTS adds
  # options, e.g. --track-origins=yes (1.5-2 times as slow; off by default).
  # shellcheck disable=SC2054,SC2206 # commas are in values; the options split on purpose.
  valgrind=(
    "${launcher}" --tool=memcheck --error-exitcode="${VALGRIND_ERROR_STATUS}"
    --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect
    --num-callers=40 --gen-suppressions=all --vgdb=no
    --suppressions="${valgrind_supp}" ${MICROVM_VALGRIND_OPTS:-}
  )
  # Debian's /usr/bin/valgrind is a shell wrapper around valgrind.bin.
  valgrind_files=(--file "${launcher}=${launcher}")
  # The sandbox's seccomp filters (vmm/sandbox) would also hold valgrind's
  # own system calls, which it makes on the test's threads: off under
  # valgrind, on the host and nested alike (README: "Sandbox").
  export MICROVM_SECCOMP=off
  valgrind_files+=(--env MICROVM_SECCOMP=off)
  if [[ -x ${launcher}.bin ]]; then
    valgrind_files+=(--file "${launcher}.bin=${launcher}.bin" --libs-for "${launcher}.bin")
  fi
  for f in memcheck-amd64-linux vgpreload_core-amd64-linux.so vgpreload_memcheck-amd64-linux.so default.supp; do
    valgrind_files+=(--file "${tool_dir}/${f}=${tool_dir}/${f}")
  done
  if [[ -n ${VALGRIND_LIB:-} ]]; then valgrind_files+=(--env "VALGRIND_LIB=${tool_dir}"); fi
  # Memcheck must redirect strlen in the dynamic loader, which Debian's ld.so
  # only names in its detached debug info (libc6-dbg, which Debian's valgrind
  # depends on): without it valgrind refuses to start. Ship the debug info of
  # every library the test loads, as the host has it, so that reports and
  # suppressions read the same on the host and nested.
  while IFS= read -r lib; do
    id=$(LC_ALL=C readelf -n "${lib}" 2>/dev/null | sed -n 's/^[[:space:]]*Build ID: \([0-9a-f]*\)$/\1/p')
    debug="/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
    if [[ -n ${id} && -f ${debug} ]]; then valgrind_files+=(--file "${debug}=${debug}"); fi
  done < <(LC_ALL=C ldd "${binary}" 2>/dev/null |
           sed -n 's/.*=> \(\/[^ ]*\) (.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p')
fi
# $1: the test's exit status. Says so when it is memcheck's.
explain_status() {
  if [[ ${#valgrind[@]} -gt 0 && $1 == "${VALGRIND_ERROR_STATUS}" ]]; then
    echo "${ME}: error: valgrind memcheck reported errors (exit status $1): see the ==PID== lines" \
      "above; fix the bug, or if the report is not microvm's, add a narrow suppression with" \
      "its reason to ${valgrind_supp}" >&2
  fi
}

# --- host or nested? ------------------------------------------------------------
reason=""
case "${MICROVM_TEST_NESTED:-0}" in
  ""|0) ;;
  *) reason="MICROVM_TEST_NESTED=${MICROVM_TEST_NESTED}" ;;
esac
if [[ -z ${reason} ]]; then
  if probe_out=$("${probe}" 2>&1); then
    echo "${ME}: host /dev/kvm${probe_out:+ (${probe_out#kvm-probe: })}"
    # Which KVM the test runs on, for the few that differ (cli_test's memory
    # budget): "host" or, in the nested machine, "nested".
    export MICROVM_TEST_KVM=host
    if [[ -n ${XML_OUTPUT_FILE:-} && -z ${GTEST_OUTPUT:-} ]]; then
      export GTEST_OUTPUT="xml:${XML_OUTPUT_FILE}"
    fi
    (( ${#valgrind[@]} )) || exec "${binary}" "$@"
    status=0
    "${valgrind[@]}" "${binary}" "$@" || status=$?
    explain_status "${status}"
    exit "${status}"
  fi
  reason="host probe failed: ${probe_out#kvm-probe: }"
fi
echo "${ME}: nested machine (${reason})"

# --- nested ---------------------------------------------------------------------
work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/kvm-runner.XXXXXX")
trap 'rm -rf "${work}"' EXIT

# Bazel's per-test timeout, less a margin so QEMU is stopped (and says so)
# before Bazel kills this script.
timeout=600
if [[ ${TEST_TIMEOUT:-} =~ ^[0-9]+$ ]]; then
  timeout=$(( TEST_TIMEOUT > 60 ? TEST_TIMEOUT - 15 : TEST_TIMEOUT * 3 / 4 ))
fi

guest_root=/runfiles
guest_xml=/tmp/test.xml
env_args=(
  --env "TEST_SRCDIR=${guest_root}"
  --env "MICROVM_TEST_KVM=nested"
  --env "TEST_WORKSPACE=${TEST_WORKSPACE}"
  --env "TEST_TMPDIR=/tmp/test_tmpdir"
  --env "TMPDIR=/tmp/test_tmpdir"
  --env "GTEST_OUTPUT=xml:${guest_xml}"
)
# Sharding, seeds, gtest and sanitizer settings mean the same inside.
for name in TEST_SHARD_INDEX TEST_TOTAL_SHARDS TEST_RANDOM_SEED ASAN_OPTIONS UBSAN_OPTIONS \
  $(compgen -e | grep -E '^(GTEST_|MICROVM_)' | grep -vE '^(GTEST_OUTPUT|MICROVM_CACHE)$' || true); do
  [[ -n ${!name:-} ]] && env_args+=(--env "${name}=${!name}")
done
if [[ -n ${TEST_TOTAL_SHARDS:-} ]]; then
  env_args+=(--env "GTEST_SHARD_INDEX=${TEST_SHARD_INDEX}" --env "GTEST_TOTAL_SHARDS=${TEST_TOTAL_SHARDS}")
  # gtest inside cannot touch the host's file; Bazel wants to see sharding is supported.
  [[ -n ${TEST_SHARD_STATUS_FILE:-} ]] && touch "${TEST_SHARD_STATUS_FILE}"
fi

# Every program in the runfiles (e.g. vmm/microvm_static, which a test runs
# as a subprocess) gets its shared libraries too: only sanitizer builds have
# any, and --libs-for is a no-op for static programs.
libs_args=()
while IFS= read -r -d '' f; do
  if [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == '177ELF' ]]; then
    libs_args+=(--libs-for "$f")
  fi
done < <(find -L "${TEST_SRCDIR}" -type f -perm -u+x -print0 2>/dev/null)

# Inside, kvm_probe runs first (the machine's KVM must be sound) and once more
# if it fails: its guest hangs in about 1 run in 450 there (kvm_probe_test.cc),
# a fault of the nested machine that no rescue inside the probe cures.
# A machine that died under the test (nested_run.sh status 123: its kernel
# stopped taking interrupts, a rare fault of the nested TCG machine, seen once
# in CI on 2026-12-04) says so with its registers, and the test
# runs once more, in a new machine, in the time left. Only then: a test that
# fails or hangs in a live machine fails as it is.
run_start=$(date +%s)
attempt=1
while :; do
  status=0
  # shellcheck disable=SC2016 # the sh -c script expands inside the machine.
  "${nested_run}" \
    --dir "${guest_root}=${TEST_SRCDIR}" \
    --libs-for "${binary}" \
    --libs-for "${probe}" \
    "${libs_args[@]}" \
    "${valgrind_files[@]}" \
    --cwd "${guest_root}/${TEST_WORKSPACE}" \
    "${env_args[@]}" \
    --fetch "${guest_xml}=${work}/test.xml" \
    --cpus "${cpus}" --mem "${mem}" --timeout "${timeout}" \
    -- sh -c 'mkdir -p "${TEST_TMPDIR}" && { "$0" || "$0"; } && exec "$@"' "${probe}" "${valgrind[@]}" "${binary}" "$@" ||
    status=$?
  (( status == 123 && attempt == 1 )) || break
  left=$(( timeout - ($(date +%s) - run_start) ))
  if (( left < 60 )); then
    echo "${ME}: error: the nested machine died and only ${left} s are left: not running the test again" >&2
    break
  fi
  echo "${ME}: the nested machine died (above), not the test: running the test once more in a new" \
    "machine (${left} s left)" >&2
  timeout=${left} attempt=2
done

if [[ -s ${work}/test.xml && -n ${XML_OUTPUT_FILE:-} ]]; then
  cp "${work}/test.xml" "${XML_OUTPUT_FILE}"
fi
explain_status "${status}"
exit "${status}"
