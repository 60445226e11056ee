#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every test of microvm, the README's "all tests" command and what CI runs:
#
#  1. tools/setup.sh (Debian packages, the nested machine's kernel), then a
#     check that every source file starts with its SPDX license line;
#  2. bazel test //...                        the whole suite, lab included,
#     and the tiny-guest tests again under valgrind memcheck (*_valgrind);
#  3. bazel test --config=release //...     the whole suite again, built as
#     users get it (-c opt: -O2, NDEBUG), lab included, so the release build
#     cannot break or misbehave unseen (GCC warns differently at -O2);
#  4. bazel test --config=asan  (lab excluded) AddressSanitizer + LeakSanitizer;
#  5. bazel test --config=ubsan (lab excluded) UndefinedBehaviorSanitizer;
#  6. tools/fuzz.sh, when it exists: every fuzz target for a short while.
#
# The *_valgrind tests are skipped in stages 4 and 5 (Bazel reports them as
# incompatible there): memcheck and a sanitizer runtime cannot share a process.
#
# The lab stays out of the sanitizer runs: it runs the fully static microvm
# inside the lab machine, and sanitizer runtimes need the dynamic one. Each
# sanitizer config has its own output directory (--platform_suffix in
# .bazelrc), so the stages do not rebuild each other's outputs.
#
# Every stage runs even when an earlier one failed; the summary at the end
# names the failed ones, and the exit status is 1 if any failed.
#
# Usage: tools/test.sh [--quick] [--fuzz-seconds N] [-- BAZEL_TEST_ARGS...]
#   --quick            only stages 1 and 2
#   --fuzz-seconds N   time per fuzz target in stage 6 (default 20)
# BAZEL_STARTUP_OPTS (optional): Bazel startup options, e.g. --output_base=DIR.
set -uo pipefail
cd "$(dirname "$0")/.."

readonly ME="test.sh"
quick=0 fuzz_seconds=20 extra=()
while (( $# )); do
  case "$1" in
    --quick) quick=1; shift ;;
    --fuzz-seconds) fuzz_seconds="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '3,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "${ME}: error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[[ ${fuzz_seconds} =~ ^[0-9]+$ ]] || { echo "${ME}: error: --fuzz-seconds wants a number, got '${fuzz_seconds}'" >&2; exit 2; }

bash tools/setup.sh || { echo "${ME}: error: tools/setup.sh failed; nothing tested" >&2; exit 1; }

failed=() summary=()
stage() {  # $1: name; the rest: the command
  local name="$1" start status
  shift
  echo "${ME}: === ${name}: $*"
  start=${SECONDS}
  "$@"
  status=$?
  summary+=("${name}: $( ((status == 0)) && echo passed || echo "FAILED (status ${status})") in $((SECONDS - start)) s")
  ((status == 0)) || failed+=("${name}")
}

# shellcheck disable=SC2086 # startup options are separate words on purpose.
bazel_test() { bazel ${BAZEL_STARTUP_OPTS:-} test --keep_going --curses=no "$@" "${extra[@]}"; }

# Every tracked source file carries the license line (LICENSE: Apache-2.0) in
# its first two lines (after a #! line).
spdx_check() {
  local missing
  missing=$(git ls-files -- '*.cc' '*.h' '*.c' '*.S' '*.ld' '*.sh' '*.bzl' '*.bazel' '*.awk' \
              '*.supp' ':(glob)**/BUILD' ':(glob)**/WORKSPACE' '.bazelrc' '.ci/run' |
            while IFS= read -r f; do
              head -n 2 "$f" | grep -q 'SPDX-License-Identifier: Apache-2.0' || echo "$f"
            done)
  [[ -z ${missing} ]] && return 0
  echo "${ME}: error: no 'SPDX-License-Identifier: Apache-2.0' line at the top of:" $missing >&2
  return 1
}
if git rev-parse --git-dir >/dev/null 2>&1; then stage "license headers" spdx_check; fi
stage "all tests" bazel_test //...
if ((quick == 0)); then
  stage "release (-c opt)" bazel_test --config=release //...
  stage "asan" bazel_test --config=asan -- //... -//tests/lab/...
  stage "ubsan" bazel_test --config=ubsan -- //... -//tests/lab/...
  if [[ -f tools/fuzz.sh ]]; then
    stage "fuzz" bash tools/fuzz.sh --seconds "${fuzz_seconds}"
  fi
fi

echo "${ME}: summary"
for line in "${summary[@]}"; do echo "${ME}:   ${line}"; done
if ((${#failed[@]})); then
  echo "${ME}: error: failed: ${failed[*]}" >&2
  exit 1
fi
echo "${ME}: every stage passed"
