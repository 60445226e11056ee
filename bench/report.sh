#!/bin/bash
# Turns Google Benchmark JSON from //bench:latency into OUT_DIR/report.md
# (a table: median, p99, ratio of the medians to the baseline each benchmark
# names in its label) and plots OUT_DIR/latency.png and OUT_DIR/startup.png
# (gnuplot). With --benchmark_repetitions, the "median" aggregates are used:
# every number is the median over repetitions of that statistic.
#
# Usage: bench/report.sh RESULTS.json OUT_DIR [WHERE]
#   WHERE: a line saying where the benchmarks ran, for the report.
set -euo pipefail

die() { echo "report.sh: error: $*" >&2; exit 1; }
(( $# >= 2 )) || die "usage: report.sh RESULTS.json OUT_DIR [WHERE]"
json="$1" out="$2" where="${3:-}"
[[ -s ${json} ]] || die "${json} is missing or empty"
command -v gnuplot >/dev/null || die "gnuplot not found; run tools/setup.sh (gnuplot-nox)"
mkdir -p "${out}"

# One line per benchmark, in registration order (random interleaving
# shuffles the JSON):
#   name p50 p99 max samples lost outliers timer_wakeups rescued baseline
# The JSON writer puts one "key": value per line, which is all this needs.
table="${out}/results.tsv"
awk '
  function field(line) { sub(/^[^:]*: */, "", line); sub(/,$/, "", line); gsub(/"/, "", line); return line }
  /^    \{/ { delete e; next }
  /^      "[a-z_0-9]+": / { key = $1; gsub(/[":]/, "", key); e[key] = field($0); next }
  /^    \}/ {
    if (e["run_type"] == "aggregate" && e["aggregate_name"] != "median") next
    name = e["run_name"]; sub(/\/iterations:.*$/, "", name)
    if (name ~ /^Memory\//) next
    if (!(name in seen)) { seen[name] = 1; order[++n] = name; family[name] = e["family_index"] }
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
' "${json}" | sort -n -k1,1 | cut -f2- > "${table}"
[[ -s ${table} ]] || die "no benchmarks found in ${json}"

# Memory benchmarks (memory_bench.cc): counters, not times.
#   name rss_kib guest_rss_kib overhead_kib floor_kib ratio_to_floor
memory="${out}/memory.tsv"
awk '
  function field(line) { sub(/^[^:]*: */, "", line); sub(/,$/, "", line); gsub(/"/, "", line); return line }
  /^    \{/ { delete e; next }
  /^      "[a-z_0-9]+": / { key = $1; gsub(/[":]/, "", key); e[key] = field($0); next }
  /^    \}/ {
    name = e["run_name"]; sub(/\/iterations:.*$/, "", name)
    if (name !~ /^Memory\// || e["run_type"] == "aggregate" || (name in seen)) next
    seen[name] = 1
    if (e["error_occurred"] == "true") { printf "%s\tERROR\t%s\n", name, e["error_message"]; next }
    printf "%s\t%d\t%d\t%d\t%d\t%s\n", name, e["rss_kib"], e["guest_rss_kib"], e["overhead_kib"],
      e["floor_kib"], e["ratio_to_floor"]
  }
' "${json}" > "${memory}"

report="${out}/report.md"
{
  echo "# microvm latency benchmarks"
  echo
  [[ -n ${where} ]] && { echo "${where}"; echo; }
  echo "Times in microseconds, measured by the guest with RDTSC (start-up: wall"
  echo "clock in the benchmark process). Ratio: this median / the baseline's median."
  echo "Outliers: samples over 10x the median. Rescued: interrupts that only"
  echo "arrived once the guest's LAPIC rescue timer woke its HLT (lost wake-ups)."
  echo
  echo "| benchmark | median us | p99 us | max us | ratio | baseline | samples | lost | outliers | rescued |"
  echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"
  awk -F'\t' '
    { row[NR] = $0; if ($2 != "ERROR") med[$1] = $2 }
    END {
      for (i = 1; i <= NR; i++) {
        split(row[i], f, "\t")
        if (f[2] == "ERROR") { printf "| %s | failed: %s | | | | | | | | |\n", f[1], f[3]; continue }
        ratio = (f[10] in med && med[f[10]] > 0) ? sprintf("%.3fx", f[2] / med[f[10]]) : "-"
        printf "| %s | %.1f | %.1f | %.1f | %s | %s | %d | %d | %d | %d |\n",
          f[1], f[2], f[3], f[4], ratio, f[10], f[5], f[6], f[7], f[9]
      }
    }' "${table}"
  if [[ -s ${memory} ]]; then
    echo
    echo "## Memory overhead"
    echo
    echo "Resident memory (KiB, /proc/PID/smaps) of a running microvm (--mem 64,"
    echo "guest halted) outside guest RAM. Goal: under 3072 KiB; Firecracker's"
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
  echo
  echo "![latency](latency.png)"
  echo
  echo "![start-up](startup.png)"
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
set key top left
set title "microvm latency: median and p99"
plot "${data}" using 2:xtic(1) title "median", "" using 3 title "p99"
GNUPLOT
}
plot latency.png '^[^S]' 1 "microseconds"
plot startup.png '^Startup/' 1000 "milliseconds"
echo "report.sh: wrote ${report}"
