#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets in fuzz/ with clang, ASan and UBSan
# (--config=fuzz in .bazelrc) and runs each for a while, starting from its
# checked-in seed corpus (fuzz/corpus/<target>/). New inputs go to a working
# corpus in a temporary directory, removed at the end: nothing is written
# to the source tree.
#
# One summary line per target: "fuzz.sh: <target> PASS|CRASH ...". A crash
# leaves its reproducer in $FUZZ_ARTIFACTS (default
# /tmp/microvm-fuzz-artifacts) and its path is printed; check it in under
# fuzz/corpus/<target>/ once fixed. Exit status 1 if any target crashed or
# did not build.
#
# Usage: tools/fuzz.sh [--seconds N] [TARGET...]
#   --seconds N   time per target (default 30)
#   TARGET        e.g. msix_fuzzer; default every target in fuzz/
# Needs clang-14 and libclang-rt-14-dev (Debian: clang, libclang-rt-14-dev).
# BAZEL_STARTUP_OPTS (optional): Bazel startup options, e.g.
#   --output_base=DIR; default --output_base=/tmp/microvm-fuzz-bazel-$UID,
#   because CC=clang re-configures the C++ toolchain of its output base.
set -uo pipefail
cd "$(dirname "$0")/.."

readonly ME="fuzz.sh"
die() { echo "${ME}: error: $*" >&2; exit 2; }

seconds=30 targets=()
while (($#)); do
  case "$1" in
    --seconds) [[ $# -ge 2 ]] || die "--seconds wants a number"; seconds="$2"; shift 2 ;;
    -h|--help) sed -n '3,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ ${seconds} =~ ^[0-9]+$ && ${seconds} -gt 0 ]] || die "--seconds wants a positive number, got '${seconds}'"
command -v clang >/dev/null || die "clang not found: apt-get install clang libclang-rt-14-dev"
[[ -f "$(clang --print-runtime-dir)/libclang_rt.fuzzer-x86_64.a" ]] ||
  die "clang has no libFuzzer runtime: apt-get install libclang-rt-14-dev"
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(ls fuzz/corpus)
fi
((${#targets[@]})) || die "no fuzz targets found in fuzz/corpus/"
for t in "${targets[@]}"; do
  [[ -d fuzz/corpus/${t} ]] || die "unknown target '${t}' (no fuzz/corpus/${t}/)"
done

# shellcheck disable=SC2206 # startup options are separate words on purpose.
bazel_cmd=(bazel ${BAZEL_STARTUP_OPTS:---output_base=/tmp/microvm-fuzz-bazel-${UID}})
labels=("${targets[@]/#///fuzz:}")
echo "${ME}: building ${labels[*]} with clang, libFuzzer, ASan, UBSan"
"${bazel_cmd[@]}" build --config=fuzz --curses=no "${labels[@]}" ||
  { echo "${ME}: error: build failed" >&2; exit 1; }
bin_dir="$("${bazel_cmd[@]}" info --config=fuzz bazel-bin 2>/dev/null)" ||
  { echo "${ME}: error: bazel info bazel-bin failed" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/microvm-fuzz.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
artifacts="${FUZZ_ARTIFACTS:-/tmp/microvm-fuzz-artifacts}"
mkdir -p "${artifacts}"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=() summary=()
for t in "${targets[@]}"; do
  corpus="${work}/${t}"
  mkdir -p "${corpus}"
  log="${work}/${t}.log"
  echo "${ME}: running ${t} for ${seconds} s"
  "${bin_dir}/fuzz/${t}" "${corpus}" "fuzz/corpus/${t}" \
    -max_total_time="${seconds}" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="${artifacts}/${t}-" >"${log}" 2>&1
  status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -1)"
  speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "${log}" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "${log}" | tail -1)"
  units="$(find "${corpus}" -type f | wc -l)"
  if ((status == 0)); then
    summary+=("${t} PASS ${runs:-?} runs, ${speed:-?} exec/s, ${cov:-cov: ?}, ${units} new corpus inputs, ${seconds} s")
  else
    repro="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "${log}" | tail -1)"
    tail -60 "${log}" >&2
    summary+=("${t} CRASH (status ${status}) after ${runs:-?} runs; reproducer: ${repro:-none written, see output above}")
    failed+=("${t}")
  fi
done

for line in "${summary[@]}"; do echo "${ME}: ${line}"; done
if ((${#failed[@]})); then
  echo "${ME}: error: crashed: ${failed[*]}; rerun one with: ${bin_dir}/fuzz/<target> <reproducer>" >&2
  exit 1
fi
echo "${ME}: no crashes"
