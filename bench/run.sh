#!/bin/bash
# Runs microvm's whole latency-benchmark suite and writes the report:
#   bench/out/results.json   Google Benchmark JSON (//bench:latency)
#   bench/out/report.md      table: median, p99, ratio to each baseline
#   bench/out/*.png          plots (gnuplot)
# It builds, then runs on the host's /dev/kvm when //tests/nested:kvm_probe
# passes there (and MICROVM_BENCH_NESTED is unset or 0), else inside the
# nested machine (tests/nested/nested_run.sh), and fetches the JSON back.
#
# Usage: bench/run.sh [BENCHMARK FLAG]...   e.g. --samples=5000,
#   --benchmark_filter=Irq, --benchmark_repetitions=5 (default: 3 repetitions,
#   randomly interleaved, so slow drifts hit bare and microvm alike)
# Environment: BAZEL (default "bazel"; e.g. "bazel --output_base=DIR").
set -euo pipefail

die() { echo "run.sh: error: $*" >&2; exit 1; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a bazel <<<"${BAZEL:-bazel}"
out="bench/out"
mkdir -p "${out}"

"${bazel[@]}" build //bench:latency //tests/nested:kvm_probe
bin=$("${bazel[@]}" info bazel-bin 2>/dev/null)
runfiles="${bin}/bench/latency.runfiles/microvm"
[[ -x ${runfiles}/bench/latency ]] || die "no ${runfiles}/bench/latency after the build"

flags=(--benchmark_repetitions=3 --benchmark_enable_random_interleaving=true
       --benchmark_out_format=json "$@")
if [[ ${MICROVM_BENCH_NESTED:-0} == 0 ]] && probe=$("${bin}/tests/nested/kvm_probe" 2>&1); then
  where="Ran on the host's /dev/kvm (${probe#kvm-probe: }), $(date -u +%F)."
  echo "run.sh: ${where}"
  (cd "${runfiles}" && bench/latency --benchmark_out="${PWD}/results.json.tmp" "${flags[@]}")
  mv "${runfiles}/results.json.tmp" "${out}/results.json"
else
  where="Ran in the nested machine (QEMU TCG, nested SVM, tests/nested/nested_run.sh; no usable host /dev/kvm), $(date -u +%F)."
  echo "run.sh: ${where}"
  rm -f "${out}/results.json"
  tests/nested/nested_run.sh --dir "/bench=${runfiles}" \
    --libs-for "${runfiles}/bench/latency" --libs-for "${runfiles}/vmm/microvm" \
    --cwd /bench --cpus 1 --mem 2048 --timeout 3000 \
    --fetch "/tmp/results.json=${PWD}/${out}/results.json" \
    -- bench/latency --benchmark_out=/tmp/results.json "${flags[@]}"
fi
[[ -s ${out}/results.json ]] || die "the benchmarks wrote no JSON"
bench/report.sh "${out}/results.json" "${out}" "${where}"
