#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every latency benchmark with a handful of samples and checks the
# Google Benchmark JSON: 36 benchmarks, none failed, the 26 latency ones
# (8 of them microvm's settings for dedicated CPUs against the default; on a
# KVM without KVM_CAP_HALT_POLL or the HLT/PAUSE exits to disable, those up
# to 6 fail with the refusal line and nothing else may)
# with a positive median and no lost sample, the two memory ones with a
# positive overhead, the six interleaved ratios (three in-process, three of
# whole processes) positive within their
# interval, Startup/phases with the 11 phases of --boot_timer's set-up line
# (process start to main ... vCPUs). Times nothing: this is not a benchmark run
# (that is bench/run.sh). Run by //bench:smoke_test through
# tests/nested/run_kvm_test.sh (host /dev/kvm or the nested machine), from the
# runfiles directory, with busybox's sh and awk.
set -eu

out="${TEST_TMPDIR:-/tmp}/smoke.json"
bench/latency --samples=10 --startup_runs=2 \
  --benchmark_out="${out}" --benchmark_out_format=json

awk '
  /"run_type": "iteration"/ { runs++ }
  /"error_occurred": true/ { errors++ }
  /"error_message"/ {
    print "smoke: " $0
    # A setting for dedicated CPUs this host'"'"'s KVM does not offer is refused
    # (vmm/platform.cc ApplyKvmTuning); any other error fails the test.
    if ($0 ~ /this host.s KVM cannot/) unsupported++
  }
  /"name": / { name = $2 }
  /"p50_us": / { v = $2 + 0; if (v > 0) good++; else print "smoke: bad median in " name }
  /"lost": / { if ($2 + 0 > 0) { lost++; print "smoke: lost samples in " name } }
  /"overhead_kib": / { if ($2 + 0 > 0) memory++; else print "smoke: no memory overhead in " name }
  /"ratio": / { r = $2 + 0 }
  /"ratio_high": / { hi = $2 + 0 }
  /"ratio_low": / { lo = $2 + 0 }
  /"phase[0-9][0-9]_[a-z_0-9]+_ms": / { phases++; if ($0 ~ /phase01_process_start_to_main_ms/) from_start++ }
  /"wider_than_effect": / { if (r > 0 && lo <= r && r <= hi) ratios++; else print "smoke: bad ratio in " name }
  END {
    printf "smoke: %d benchmarks, %d with a median, %d with a memory overhead, %d ratios, %d start-up phases, %d failed, %d with lost samples\n",
      runs, good, memory, ratios, phases, errors, lost
    if (unsupported) printf "smoke: %d tuning benchmark(s) refused: this KVM lacks the setting\n", unsupported
    exit !(runs == 36 && good + unsupported == 26 && memory == 2 && ratios == 6 &&
           phases == 11 && from_start == 1 &&
           errors == unsupported && unsupported <= 6 && lost == 0)
  }
' "${out}"
