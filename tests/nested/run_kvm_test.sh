#!/bin/bash
# The KVM test runner: the sh_test that tests/kvm_test.bzl wraps around every
# test binary needing /dev/kvm.
#
# Usage: run_kvm_test.sh --probe=PATH --nested-run=PATH [--cpus=N] [--mem=MIB]
#                        -- TEST_BINARY [ARG]...
# (paths relative to the runfiles workspace directory, as $(rootpath) gives.)
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
# nested machine that failed before the test finished).
set -euo pipefail

readonly ME="kvm-runner"
die() { echo "${ME}: error: $*" >&2; exit 125; }

probe="" nested_run="" cpus=1 mem=2048
while (( $# )); do
  case "$1" in
    --probe=*) probe="${1#*=}" ;;
    --nested-run=*) nested_run="${1#*=}" ;;
    --cpus=*) cpus="${1#*=}" ;;
    --mem=*) mem="${1#*=}" ;;
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

# --- host or nested? ------------------------------------------------------------
reason=""
case "${MICROVM_TEST_NESTED:-0}" in
  ""|0) ;;
  *) reason="MICROVM_TEST_NESTED=${MICROVM_TEST_NESTED}" ;;
esac
if [[ -z ${reason} ]]; then
  if probe_out=$("${probe}" 2>&1); then
    echo "${ME}: host /dev/kvm${probe_out:+ (${probe_out#kvm-probe: })}"
    if [[ -n ${XML_OUTPUT_FILE:-} && -z ${GTEST_OUTPUT:-} ]]; then
      export GTEST_OUTPUT="xml:${XML_OUTPUT_FILE}"
    fi
    exec "${binary}" "$@"
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

status=0
# shellcheck disable=SC2016 # the sh -c script expands inside the machine.
"${nested_run}" \
  --dir "${guest_root}=${TEST_SRCDIR}" \
  --libs-for "${binary}" \
  --libs-for "${probe}" \
  "${libs_args[@]}" \
  --cwd "${guest_root}/${TEST_WORKSPACE}" \
  "${env_args[@]}" \
  --fetch "${guest_xml}=${work}/test.xml" \
  --cpus "${cpus}" --mem "${mem}" --timeout "${timeout}" \
  -- sh -c 'mkdir -p "${TEST_TMPDIR}" && "$0" && exec "$@"' "${probe}" "${binary}" "$@" ||
  status=$?

if [[ -s ${work}/test.xml && -n ${XML_OUTPUT_FILE:-} ]]; then
  cp "${work}/test.xml" "${XML_OUTPUT_FILE}"
fi
exit "${status}"
