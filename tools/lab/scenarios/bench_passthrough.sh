# SPDX-License-Identifier: Apache-2.0
# Scenario bench_passthrough (a benchmark, not a proof of speed): runs the
# Passthrough/* benchmarks of //bench:latency (bench/passthrough_bench.cc) on
# the lab's edu, which starts microvm with the edu passed through for each
# path: BAR0 reads and writes through the memslot vs trapped
# (--vfio_mmap=false), INTx through KVM's resampling irqfd vs through the VMM
# (--vfio_intx=userspace), MSI through the irqfd. Google Benchmark JSON goes to
# ${LAB_OUT:-/lab/out}/passthrough.json (lab.sh --fetch brings it out; see
# bench/run.sh) and one line per benchmark:
#   LAB-BENCH passthrough name=<benchmark> p50_us=<us> p99_us=<us>
#     exits_per_access=<n> vmm_wakeups_per_10k=<n> lost=<n>
# It checks behaviour, never times: every benchmark ran without a lost
# interrupt; the memslot paths made no BAR0 exit and the trapped ones one per
# access; on the irqfd paths microvm's own (non-vCPU) threads stayed out of
# the interrupt path (at most 5 + 1 per 100 interrupts: the count is the
# difference of two noisy ones, see passthrough_bench.cc), while the
# userspace path shows them (at least one per 2 interrupts: the counter works).
# Environment: LAB_BENCH_SAMPLES (default 500), LAB_BENCH_REPETITIONS
# (default 1).
#
# Needs /lab/latency (the benchmark program, its shared libraries) and
# /lab/bench_guests/passthrough.elf: lab.sh ships both when they sit next to
# microvm (bazel-bin or a test's runfiles).
run_scenario() {
  bench=${LAB}/latency guests=${LAB}/bench_guests out=${LAB_OUT:-/lab/out}
  [ -x "${bench}" ] || { lab_result bench_passthrough FAIL "no ${bench} (lab.sh ships bench/latency next to microvm)"; return; }
  [ -s "${guests}/passthrough.elf" ] || { lab_result bench_passthrough FAIL "no ${guests}/passthrough.elf"; return; }
  bdf=$(pci_first 1234:11e8)
  [ -n "${bdf}" ] || { lab_result bench_passthrough FAIL "no edu device (1234:11e8)"; return; }
  mkdir -p "${out}"
  json=${out}/passthrough.json
  echo "LAB-AGENT: latency --vfio=${bdf} --benchmark_filter=^Passthrough/"
  if ! "${bench}" --vfio="${bdf}" --microvm="${MICROVM}" --guest_dir="${guests}" \
    --benchmark_filter='^Passthrough/' --samples="${LAB_BENCH_SAMPLES:-500}" \
    --benchmark_repetitions="${LAB_BENCH_REPETITIONS:-1}" \
    --benchmark_out="${json}" --benchmark_out_format=json >"${WORK}/bench.log" 2>&1; then
    sed 's/^/bench| /' "${WORK}/bench.log"
    lab_result bench_passthrough FAIL "latency exited non-zero: $(tail -n 1 "${WORK}/bench.log" | cut -c1-200)"
    return
  fi
  sed 's/^/bench| /' "${WORK}/bench.log"
  # The runs (not the aggregates) of each benchmark, first repetition
  # (bench/json_runs.awk: tab-separated key=value fields).
  awk -f "${LAB}/json_runs.awk" "${json}" | awk -F'\t' '
    { delete e; for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); e[k] = v } }
    e["run_type"] != "iteration" || (e["name"] in seen) { next }
    {
      name = e["name"]; seen[name] = 1
      if (e["error_occurred"] == "true") { printf "ERROR %s %s\n", name, e["error_message"]; next }
      printf "LAB-BENCH passthrough name=%s p50_us=%.3f p99_us=%.3f exits_per_access=%.3f" \
        " vmm_wakeups_per_10k=%.1f lost=%d bar_exits=%d bar_accesses=%d vmm_wakeups=%d samples=%d\n",
        name, e["p50_us"], e["p99_us"], e["exits_per_access"], e["vmm_wakeups_per_10k"],
        e["lost"], e["bar_exits"], e["bar_accesses"], e["vmm_wakeups"], e["samples"]
    }' >"${WORK}/lines"
  grep '^LAB-BENCH' "${WORK}/lines"
  failed=$(awk '
    /^ERROR/ { sub(/^ERROR /, ""); printf "%s; ", $0; next }
    {
      for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      n = v["name"]; seen[n] = 1
      if (v["lost"] > 0) printf "%s: %d interrupts never arrived; ", n, v["lost"]
      if (n ~ /\/mmap$/ && v["bar_exits"] != 0) printf "%s: %d BAR0 exits through the memslot; ", n, v["bar_exits"]
      if (n ~ /\/trapped$/ && v["bar_exits"] != v["bar_accesses"])
        printf "%s: %d BAR0 exits for %d accesses; ", n, v["bar_exits"], v["bar_accesses"]
      if (n ~ /\/irqfd$/ && v["vmm_wakeups"] > 5 + v["samples"] / 100)
        printf "%s: microvm threads woke %d times for %d interrupts; ", n, v["vmm_wakeups"], v["samples"]
      if (n ~ /userspace$/ && v["vmm_wakeups"] * 2 < v["samples"])
        printf "%s: only %d wake-ups for %d interrupts through the VMM; ", n, v["vmm_wakeups"], v["samples"]
    }
    END {
      split("bar_read/mmap bar_read/trapped bar_write/mmap bar_write/trapped intx/irqfd intx/userspace msi/irqfd", want, " ")
      for (i in want) if (!(("Passthrough/" want[i]) in seen)) printf "no result for Passthrough/%s; ", want[i]
    }' "${WORK}/lines")
  if [ -n "${failed}" ]; then
    lab_result bench_passthrough FAIL "${failed}"
  else
    lab_result bench_passthrough PASS "7 passthrough paths measured (LAB-BENCH passthrough lines above; JSON ${json})"
  fi
}
