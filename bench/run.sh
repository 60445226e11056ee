#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs microvm's whole latency-benchmark suite and writes the report:
#   bench/out/results.json   Google Benchmark JSON (//bench:latency)
#   bench/out/report.md      table: median, p99, ratio to each baseline
#   bench/out/*.png          plots (gnuplot)
# It builds, then runs on the host's /dev/kvm when //tests/nested:kvm_probe
# passes there (and MICROVM_BENCH_NESTED is unset or 0), else inside the
# nested machine (tests/nested/nested_run.sh), and fetches the JSON back.
#
# Then the lab (tools/lab/lab.sh: the nested machine with an emulated IOMMU
# and QEMU's edu bound to vfio-pci): scenario bench_passthrough runs the
# Passthrough/* benchmarks there (JSON: bench/out/passthrough.json),
# bench_dma times the DMA map of guest RAM against a bare VFIO map, boot
# times start-up to the inner Linux's init, bench_qemu_boot boots the same
# kernel (bzImage and vmlinux) and initramfs with microvm and Debian's QEMU
# (-M microvm in its fastest configuration, q35) side by side, with
# microvm's own share of the time; their LAB-BENCH lines are in
# bench/out/lab.log. All of it goes into the one report.
#
# Everything is built with --config=release (-c opt) and the report says so.
#
# Usage: bench/run.sh [--no-lab] [BENCHMARK FLAG]...   e.g. --samples=5000,
#   --benchmark_filter=Irq, --benchmark_repetitions=5 (default: 3 repetitions,
#   randomly interleaved, so slow drifts hit bare and microvm alike); the
#   lab's passthrough benchmarks take 2000 samples x 3 repetitions
#   (LAB_BENCH_SAMPLES, LAB_BENCH_REPETITIONS).
# Environment: BAZEL (default "bazel"; e.g. "bazel --output_base=DIR").
set -euo pipefail

die() { echo "run.sh: error: $*" >&2; exit 1; }
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a bazel <<<"${BAZEL:-bazel}"
out="bench/out"
mkdir -p "${out}"
lab=1
if [[ ${1:-} == --no-lab ]]; then lab=0; shift; fi

# The release build (-c opt): what users run is what is measured. The report
# names the build each number came from (microvm --version; the benchmark
# JSON's "microvm_build" context).
"${bazel[@]}" build --config=release //bench:latency //tests/nested:kvm_probe
bin=$("${bazel[@]}" info --config=release bazel-bin 2>/dev/null)
echo "run.sh: measuring $("${bin}/vmm/microvm" --version | tr '\n' ' ' | sed 's/ $//')"
runfiles="${bin}/bench/latency.runfiles/microvm"
[[ -x ${runfiles}/bench/latency ]] || die "no ${runfiles}/bench/latency after the build"

flags=(--benchmark_repetitions=3 --benchmark_enable_random_interleaving=true
       --benchmark_out_format=json "$@")
if [[ ${MICROVM_BENCH_NESTED:-0} == 0 ]] && probe=$("${bin}/tests/nested/kvm_probe" 2>&1); then
  where="Ran on the host's /dev/kvm (${probe#kvm-probe: }), $(nproc) host CPUs, $(date -u +%F)."
  echo "run.sh: ${where}"
  (cd "${runfiles}" && bench/latency --benchmark_out="${PWD}/results.json.tmp" "${flags[@]}")
  mv "${runfiles}/results.json.tmp" "${out}/results.json"
else
  where="Ran in the nested machine (QEMU TCG, nested SVM, 1 vCPU, tests/nested/nested_run.sh; host: ${probe:-not tried, MICROVM_BENCH_NESTED set}), $(nproc) host CPUs, $(date -u +%F)."
  echo "run.sh: ${where}"
  rm -f "${out}/results.json"
  tests/nested/nested_run.sh --dir "/bench=${runfiles}" \
    --libs-for "${runfiles}/bench/latency" --libs-for "${runfiles}/vmm/microvm" \
    --cwd /bench --cpus 1 --mem 2048 --timeout 3000 \
    --fetch "/tmp/results.json=${PWD}/${out}/results.json" \
    -- bench/latency --benchmark_out=/tmp/results.json "${flags[@]}"
fi
[[ -s ${out}/results.json ]] || die "the benchmarks wrote no JSON"
extras=()
if [[ ${lab} == 1 ]]; then
  echo "run.sh: the lab: bench_passthrough bench_dma bench_dma_overlap boot bench_qemu_boot"
  rm -f "${out}/passthrough.json"
  # The lab builds with the same Bazel; its failure leaves the rest of the
  # report standing (the lab log says what failed).
  if BAZEL_STARTUP_OPTS="${bazel[*]:1}" LAB_BENCH_SAMPLES="${LAB_BENCH_SAMPLES:-2000}" \
      LAB_BENCH_REPETITIONS="${LAB_BENCH_REPETITIONS:-3}" \
      bash tools/lab/lab.sh --timeout 2400 \
      --fetch "/lab/out/passthrough.json=${PWD}/${out}/passthrough.json" \
      bench_passthrough bench_dma bench_dma_overlap boot bench_qemu_boot 2>&1 | tee "${out}/lab.log" | grep -E '^(LAB-|lab:)'; then
    :
  else
    echo "run.sh: the lab failed (see ${out}/lab.log); reporting what it measured" >&2
  fi
  [[ -s ${out}/passthrough.json ]] && extras+=("${out}/passthrough.json")
  grep -q '^LAB-BENCH' "${out}/lab.log" && extras+=("${out}/lab.log")
fi
bench/report.sh "${out}/results.json" "${out}" "${where}" "${extras[@]}"
# An interval wider than the effect it reports cannot say which side is
# faster: say so here too, not only in the report's table.
if [[ -s ${out}/ratios.tsv ]]; then
  awk -F'\t' '$8 == 1 {
    printf "run.sh: warning: %s: ratio %.4f, 95%% interval [%.4f, %.4f] is wider than the effect (|ratio - 1|): more --samples or a quieter machine\n", $1, $2, $3, $4
  }' "${out}/ratios.tsv" >&2
fi
echo "run.sh: report: ${out}/report.md"
