# SPDX-License-Identifier: Apache-2.0
# Turns Google Benchmark JSON from //bench:latency into OUT_DIR/report.md
# (a table: median, p99, ratio of the medians to the baseline each benchmark
# names in its label) and plots OUT_DIR/latency.png and OUT_DIR/startup.png
# (gnuplot). With --benchmark_repetitions, the "median" aggregates are used:
# every number is the median over repetitions of that statistic.
#
# Usage: bench/report.sh RESULTS.json OUT_DIR [WHERE [EXTRA]...]
#   WHERE: a line saying where the benchmarks ran, for the report.
#   EXTRA: more benchmark JSON (*.json: the lab's Passthrough benchmarks,
#   which join the table and get their own one with exits and wake-ups) or a
#   lab log (anything else: its "LAB-BENCH <kind> key=value..." lines become
#   one table per kind).
set -euo pipefail

die() { echo "report.sh: error: $*" >&2; exit 1; }
(( $# >= 2 )) || die "usage: report.sh RESULTS.json OUT_DIR [WHERE [EXTRA]...]"
json="$1" out="$2" where="${3:-}"
shift $(( $# >= 3 ? 3 : 2 ))
jsons=("${json}") labs=()
for extra in "$@"; do
  [[ -s ${extra} ]] || die "${extra} is missing or empty"
  if [[ ${extra} == *.json ]]; then jsons+=("${extra}"); else labs+=("${extra}"); fi
done
[[ -s ${json} ]] || die "${json} is missing or empty"
command -v gnuplot >/dev/null || die "gnuplot not found; run tools/setup.sh (gnuplot-nox)"
mkdir -p "${out}"

# Every run and aggregate as tab-separated key=value fields (json_runs.awk);
# each awk program below starts with ${fields}, which puts a line's fields
# into e[].
runs="${out}/runs.tsv"
awk -f "$(dirname "${BASH_SOURCE[0]}")/json_runs.awk" "${jsons[@]}" > "${runs}"
fields='{ delete e; for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); e[k] = v } }'

# One line per benchmark, in registration order (random interleaving
# shuffles the JSON):
#   name p50 p99 max samples lost outliers timer_wakeups rescued baseline
table="${out}/results.tsv"
awk -F'\t' "${fields}"'
  {
    if (e["run_type"] == "aggregate" && e["aggregate_name"] != "median") next
    name = e["name"]
    if (name ~ /^(Memory|ExitRatio)\// || name == "Startup/phases") next
    if (!(name in seen)) { seen[name] = 1; order[++n] = name; family[name] = 1000 * e["file"] + e["family_index"] }
    if (e["run_type"] == "aggregate" || !(name in median)) {
      median[name] = e["p50_us"]; p99[name] = e["p99_us"]; max[name] = e["max_us"]
      samples[name] = e["samples"]; lost[name] = e["lost"]; outl[name] = e["outliers"]
      wake[name] = e["timer_wakeups"]; resc[name] = e["rescued"]
    }
    if (e["label"] ~ /^baseline=/) { b = e["label"]; sub(/^baseline=/, "", b); base[name] = b }
    if (e["error_occurred"] == "true") err[name] = e["error_message"]
  }
  END {
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (k in err) { printf "%d\t%s\tERROR\t%s\n", family[k], k, err[k]; continue }
      printf "%d\t%s\t%g\t%g\t%g\t%d\t%d\t%d\t%d\t%d\t%s\n", family[k], k, median[k], p99[k], max[k],
        samples[k], lost[k], outl[k], wake[k], resc[k], (k in base) ? base[k] : "-"
    }
  }
' "${runs}" | sort -n -k1,1 | cut -f2- > "${table}"

# Memory benchmarks (memory_bench.cc): counters, not times.
#   name rss_kib guest_rss_kib overhead_kib floor_kib ratio_to_floor
memory="${out}/memory.tsv"
awk -F'\t' "${fields}"'
  {
    name = e["name"]
    if (name !~ /^Memory\// || e["run_type"] == "aggregate" || (name in seen)) next
    seen[name] = 1
    if (e["error_occurred"] == "true") { printf "%s\tERROR\t%s\n", name, e["error_message"]; next }
    printf "%s\t%d\t%d\t%d\t%d\t%s\n", name, e["rss_kib"], e["guest_rss_kib"], e["overhead_kib"],
      e["floor_kib"], e["ratio_to_floor"]
  }
' "${runs}" > "${memory}"

# Interleaved exit-path ratios (exits_bench.cc ExitRatio/*): one line per
# repetition: name ratio low high pairs bare_p50 microvm_p50 wider
ratios="${out}/ratios.tsv"
awk -F'\t' "${fields}"'
  {
    name = e["name"]
    if (name !~ /^ExitRatio\// || e["run_type"] == "aggregate") next
    if (e["error_occurred"] == "true") { printf "%s\tERROR\t%s\n", name, e["error_message"]; next }
    printf "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\n", name, e["ratio"], e["ratio_low"], e["ratio_high"],
      e["pairs"], e["bare_p50_us"], e["microvm_p50_us"], e["wider_than_effect"]
  }
' "${runs}" > "${ratios}"

# Passthrough benchmarks (passthrough_bench.cc, in the lab): their exit and
# wake-up counters (medians over repetitions).
#   name exits_per_access bar_exits bar_accesses vmm_wakeups vmm_wakeups_per_10k
passthrough="${out}/passthrough.tsv"
awk -F'\t' "${fields}"'
  {
    name = e["name"]
    if (name !~ /^Passthrough\// || e["error_occurred"] == "true") next
    if (e["run_type"] == "aggregate" && e["aggregate_name"] != "median") next
    if (!(name in seen)) { seen[name] = 1; order[++n] = name }
    if (e["run_type"] == "aggregate" || !(name in epa)) {
      epa[name] = e["exits_per_access"]; ex[name] = e["bar_exits"]; acc[name] = e["bar_accesses"]
      wk[name] = e["vmm_wakeups"]; wk10[name] = e["vmm_wakeups_per_10k"]
    }
  }
  END { for (i = 1; i <= n; i++) { k = order[i]; printf "%s\t%g\t%d\t%d\t%g\t%g\n", k, epa[k], ex[k], acc[k], wk[k], wk10[k] } }
' "${runs}" > "${passthrough}"

# Start-up breakdown (startup_bench.cc Startup/phases): the median over the
# repetitions (a single run's own medians without repetitions), a line per
# --boot_timer phase in its order: place name ms
phases="${out}/phases.tsv"
awk -F'\t' "${fields}"'
  e["name"] == "Startup/phases" && e["error_occurred"] != "true" &&
  (e["aggregate_name"] == "median" || (e["run_type"] != "aggregate" && !got)) {
    got = 1; delete row
    for (k in e) if (k ~ /^phase[0-9][0-9]_.*_ms$/) {
      place = substr(k, 6, 2) + 0; name = substr(k, 9); sub(/_ms$/, "", name); gsub(/_/, " ", name)
      row[place] = name "\t" e[k]
    }
  }
  END { for (i = 1; i in row; i++) printf "%d\t%s\n", i, row[i] }
' "${runs}" > "${phases}"

[[ -s ${table} || -s ${memory} || -s ${ratios} || -s ${phases} || -s ${passthrough} ]] ||
  die "no benchmarks found in ${json}"

report="${out}/report.md"
{
  echo "# microvm latency benchmarks"
  echo
  [[ -n ${where} ]] && { echo "${where}"; echo; }
  # Which build each part measured: the JSON's "microvm_build" context
  # (bench/bench_main.cc), the lab log's "lab: microvm build:" line.
  builds=$( { sed -n 's/^ *"microvm_build": "\(.*\)",\{0,1\}$/\1/p' "${jsons[@]}"
              for lab in "${labs[@]}"; do
                sed -n 's/^lab: microvm build: \(microvm [^ ]*\) commit: \([^ ]*\).* build: \([a-z]*\),.*/\1 (commit \2, \3 build)/p' "${lab}"
              done; } | sort -u)
  if [[ -z ${builds} ]]; then
    echo "Build measured: unknown (no microvm_build in the JSON)."
  else
    while IFS= read -r b; do echo "Build measured: ${b}."; done <<<"${builds}"
  fi
  if [[ -z ${builds} ]] || grep -qv ', opt build)$' <<<"${builds}"; then
    echo
    echo "**Not (only) the release build (-c opt): these numbers do not describe what users run.**"
  fi
  echo
  echo "Times in microseconds, measured by the guest with RDTSC (start-up: wall"
  echo "clock in the benchmark process). Ratio: this median / the baseline's median."
  echo "Outliers: samples over 10x the median. Rescued: interrupts that only"
  echo "arrived once the guest's LAPIC rescue timer woke its HLT (lost wake-ups)."
  echo
  echo "| benchmark | median us | p99 us | max us | ratio | baseline | samples | lost | outliers | rescued |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
  awk -F'\t' '
    function us(v) { return sprintf(v < 10 ? "%.3f" : "%.1f", v) }
    { row[NR] = $0; if ($2 != "ERROR") med[$1] = $2 }
    END {
      for (i = 1; i <= NR; i++) {
        split(row[i], f, "\t")
        if (f[2] == "ERROR") { printf "| %s | failed: %s | | | | | | | | |\n", f[1], f[3]; continue }
        ratio = (f[10] in med && med[f[10]] > 0) ? sprintf("%.3fx", f[2] / med[f[10]]) : "-"
        printf "| %s | %s | %s | %s | %s | %s | %d | %d | %d | %d |\n",
          f[1], us(f[2]), us(f[3]), us(f[4]), ratio, f[10], f[5], f[6], f[7], f[9]
      }
    }' "${table}"
  if [[ -s ${ratios} ]]; then
    echo
    echo "## Exit path against a bare KVM_RUN loop, interleaved"
    echo
    echo "The same guest in two VMs alive at once, one run by microvm's vCPU thread"
    echo "and bus, one by a bare KVM_RUN loop; short batches alternate (which goes"
    echo "first alternates too), each batch reduced to its median sample. Ratio:"
    echo "mean of microvm's batch medians / mean of the bare ones; interval: 95%"
    echo "percentile bootstrap over the batch pairs. Goal: upper bound <= 1.02x"
    echo "on a host KVM, 1.03x nested. One row per repetition."
    echo
    echo "| benchmark | ratio | 95% interval | pairs | bare median us | microvm median us | note |"
    echo "| --- | ---: | --- | ---: | ---: | ---: | --- |"
    awk -F'\t' '
      $2 == "ERROR" { printf "| %s | failed: %s | | | | | |\n", $1, $3; next }
      { printf "| %s | %.4fx | %.4f-%.4f | %d | %.2f | %.2f | %s |\n", $1, $2, $3, $4, $5, $6, $7,
          $8 == 1 ? "**interval wider than the effect: cannot say which is faster**" : "" }
    ' "${ratios}"
  fi
  if [[ -s ${phases} ]]; then
    echo
    echo "## Start-up breakdown"
    echo
    echo "The microvm binary with --boot_timer on bench/guests/startup.S: its"
    echo "\"set-up:\" line's phases to the first guest instruction, ms, median over"
    echo "the runs (process start to main: the process's time on a CPU and waiting"
    echo "for one from its fork to main(), /proc/self/schedstat). Goal: the total"
    echo "under 5 ms on host KVM."
    echo
    echo "| # | phase | ms | share |"
    echo "| ---: | --- | ---: | ---: |"
    awk -F'\t' '{ n[NR] = $2; ms[NR] = $3; total += $3 }
      END {
        for (i = 1; i <= NR; i++) printf "| %d | %s | %.3f | %.0f%% |\n", i, n[i], ms[i], (total > 0 ? 100 * ms[i] / total : 0)
        printf "| | **total** | **%.3f** | |\n", total
      }' "${phases}"
  fi
  if [[ -s ${memory} ]]; then
    echo
    echo "## Memory overhead"
    echo
    echo "Resident memory (KiB, /proc/PID/smaps) of a running microvm (--mem 64,"
    echo "guest halted) outside guest RAM. Goal: at most 2048 KiB for the static"
    echo "binary (the release, -c opt: vmm/hot_text.ld gathers the code it runs); Firecracker's"
    echo "published anchor: under 5120 KiB. Baseline: Memory/process_floor, a"
    echo "static process doing nothing."
    echo
    echo "| benchmark | overhead KiB | all KiB | guest RAM KiB | floor KiB | ratio to floor |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '
      $2 == "ERROR" { printf "| %s | failed: %s | | | | |\n", $1, $3; next }
      $1 == "Memory/process_floor" { printf "| %s | - | %d | - | - | - |\n", $1, $2; next }
      { printf "| %s | %d | %d | %d | %d | %.2fx |\n", $1, $4, $2, $3, $5, $6 }' "${memory}"
  fi
  if [[ -s ${passthrough} ]]; then
    echo
    echo "## Device passthrough (the lab: edu behind QEMU's emulated IOMMU)"
    echo
    echo "Exits: BAR0 accesses microvm trapped over the run / the guest's own"
    echo "count of its BAR0 accesses (the memslot paths must show 0). Wake-ups:"
    echo "context switches of microvm's non-vCPU threads while the interrupts"
    echo "ran, beyond an idle phase of the same run (goal on the irqfd paths: 0)."
    echo "Latencies: Passthrough/* in the table above."
    echo
    echo "| benchmark | exits per access | BAR0 exits | BAR0 accesses | VMM wake-ups | per 10k samples |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    awk -F'\t' '{ printf "| %s | %.3f | %d | %d | %d | %.1f |\n", $1, $2, $3, $4, $5, $6 }' "${passthrough}"
  fi
  if (( ${#labs[@]} )); then
    echo
    echo "## In the lab (tools/lab: scenarios bench_* and boot)"
    # One table per LAB-BENCH kind, its columns the keys of its first line
    # (not "passthrough": those lines repeat the JSON's numbers above).
    awk '
      $1 == "LAB-BENCH" && $2 != "passthrough" {
        kind = $2
        if (!(kind in cols)) {
          kinds[++nk] = kind; h = "|"
          for (i = 3; i <= NF; i++) { split($i, kv, "="); h = h " " kv[1] " |" }
          cols[kind] = NF - 2; head[kind] = h
        }
        r = "|"
        for (i = 3; i <= NF; i++) { v = $i; sub(/^[^=]*=/, "", v); r = r " " v " |" }
        rows[kind] = rows[kind] r "\n"
      }
      END {
        for (k = 1; k <= nk; k++) {
          kind = kinds[k]; sep = "|"
          for (i = 0; i < cols[kind]; i++) sep = sep " --- |"
          printf "\n### %s\n\n%s\n%s\n%s", kind, head[kind], sep, rows[kind]
        }
      }' "${labs[@]}"
  fi
  echo
  echo "![latency](latency.png)"
  echo
  echo "![start-up](startup.png)"
  if grep -qv $'\tERROR\t' "${ratios}" 2>/dev/null; then
    echo
    echo "![exit-path ratios](ratios.png)"
  fi
} > "${report}"

# Plots: median and p99 per benchmark, log scale.
plot() {  # $1: png name, $2: awk filter on the name, $3: unit divisor, $4: unit
  local data="${out}/${1%.png}.dat"
  awk -F'\t' -v want="$2" -v div="$3" '$2 != "ERROR" && $1 ~ want {
    printf "\"%s\"\t%g\t%g\n", $1, $2 / div, $3 / div }' "${table}" > "${data}"
  [[ -s ${data} ]] || return 0
  gnuplot <<GNUPLOT
set terminal pngcairo size 1200,600 font ",10"
set output "${out}/$1"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set grid ytics
set ylabel "$4 (log scale)"
set xtics rotate by -35 left noenhanced
set rmargin 12
set key top left
set title "microvm latency: median and p99"
plot "${data}" using 2:xtic(1) title "median", "" using 3 title "p99"
GNUPLOT
}
plot latency.png '^[^S]' 1 "microseconds"
plot startup.png '^Startup/' 1000 "milliseconds"
echo "report.sh: wrote ${report}"

# The interleaved exit-path ratios with their 95% intervals, a point per
# repetition, against the goals (1.02x host KVM, 1.03x nested).
awk -F'\t' '$2 != "ERROR" { printf "\"%s #%d\"\t%s\t%s\t%s\n", $1, ++rep[$1], $2, $3, $4 }' \
  "${ratios}" > "${out}/ratios.dat"
if [[ -s ${out}/ratios.dat ]]; then
  gnuplot <<GNUPLOT
set terminal pngcairo size 1200,600 font ",10"
set output "${out}/ratios.png"
set grid ytics
set ylabel "microvm / bare KVM_RUN (95% interval)"
set xtics rotate by -35 left noenhanced
set rmargin 12
set key top left
set offsets 0.5, 0.5, 0, 0
set title "exit path: microvm against the bare loop, interleaved batches"
plot "${out}/ratios.dat" using 0:2:3:4:xtic(1) with yerrorbars pt 7 title "ratio", \
     1.02 with lines dt 2 title "goal, host KVM (1.02x)", 1.03 with lines dt 3 title "goal, nested (1.03x)"
GNUPLOT
fi
