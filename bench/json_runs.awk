# SPDX-License-Identifier: Apache-2.0
# Google Benchmark JSON to one line per benchmark run (and aggregate):
# tab-separated key=value fields, first file=N (which input file, from 1),
# with name= (run_name without its /iterations:... suffix) after run_name.
# Needs nothing but the JSON writer's layout: one "key": value per line.
# Used by bench/report.sh and, in the lab machine (busybox awk), by
# tools/lab/scenarios/bench_passthrough.sh. Consumers split with -F'\t'.
function field(line) {
  sub(/^[^:]*: */, "", line); sub(/,$/, "", line); gsub(/"/, "", line)
  gsub(/\t/, " ", line)
  return line
}
FNR == 1 { file++ }
/^    \{/ { record = "file=" file; next }
/^      "[a-z_0-9]+": / {
  key = $1; gsub(/[":]/, "", key); value = field($0)
  record = record "\t" key "=" value
  if (key == "run_name") { sub(/\/iterations:.*$/, "", value); record = record "\tname=" value }
  next
}
/^    \}/ { print record }
