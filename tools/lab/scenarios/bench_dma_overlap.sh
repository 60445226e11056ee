# SPDX-License-Identifier: Apache-2.0
# Scenario bench_dma_overlap (a benchmark, not a proof): what mapping guest
# RAM for DMA while the guest boots (--dma_map=overlap) buys at start-up.
# The inner Linux boots with the edu passed through (no inner driver binds
# it, so nothing waits at Bus Master Enable) and RAM of LAB_DMA_MIB (default
# "256 1024 2048") MiB, three ways:
#   none     no --vfio: the floor
#   eager    --vfio, --dma_map=eager: all of RAM pinned before the guest runs
#   overlap  --vfio, --dma_map=overlap (the default)
# Each run gives two times on microvm's clock (ms since its main()): the
# first guest instruction (--stats) and the inner init's marker 123
# (--boot_timer). One warm-up boot of each way first (the lab machine's first
# touch of its own memory is slow), then ${LAB_DMA_OVERLAP_RUNS:-3} rounds, each
# running the three ways back to back so the host's load hits all of them;
# medians; per size one line:
#   LAB-BENCH dma_overlap mib=<N> first_none_ms= first_eager_ms=
#     first_overlap_ms= first_overlap_vs_eager= first_overlap_vs_none=
#     init_none_ms= init_eager_ms= init_overlap_ms= init_overlap_vs_eager=
#     init_overlap_vs_none= eager_map_ms= eager_first_less_map_ms=
#     overlap_mapped_at_exit_mib= runs=<n>
# eager_first_less_map_ms is what --vfio costs before the first instruction
# besides the pinning (opening the device and setting it up), which overlap
# still pays; overlap_mapped_at_exit_mib how far the low-priority pinning got
# by the guest's power-off right after its init.
# The lab machine gets 4.5 GiB for it (tools/lab/lab.sh). PASS when every
# run booted to the init; times are not judged.

# Median of the numbers on stdin.
bo_median() {
  sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print ""; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bo_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b <= 0) print "?"; else printf "%.3f\n", a / b }'; }

# bo_boot WAY MIB: one inner boot; appends its times to ${WORK}/bo-WAY-MIB.*;
# returns 1 (adding to ${failed}) when it did not reach the init.
bo_boot() {
  case "$1" in
    none) INNER_EXTRA_ARGS="--stats" ;;
    eager) INNER_EXTRA_ARGS="--vfio ${bdf} --dma_map=eager --stats" ;;
    overlap) INNER_EXTRA_ARGS="--vfio ${bdf} --dma_map=overlap --stats" ;;
  esac
  inner_boot --mem "$2" --timeout 120 --end poweroff
  INNER_EXTRA_ARGS=""
  first=$(sed -n 's/.*first guest instruction at \([0-9.]*\) ms.*/\1/p' "${INNER_LOG}")
  if [ -z "${INNER_BOOT_TIMER_MS}" ] || [ -z "${first}" ]; then
    failed="${failed} $1 $2 MiB: no init marker or first instruction (status ${INNER_STATUS});"
    return 1
  fi
  [ "${3:-}" = warm ] && return 0
  # Where the time to the first instruction went (--boot_timer's set-up
  # phases), one line per boot.
  setup=$(sed -n 's/.*microvm: boot timer: set-up: //p' "${INNER_LOG}" | head -n 1)
  echo "lab: bench_dma_overlap $1 $2 MiB: first instruction ${first} ms; set-up: ${setup}"
  echo "${first}" >>"${WORK}/bo-$1-$2.first"
  echo "${INNER_BOOT_TIMER_MS}" >>"${WORK}/bo-$1-$2.init"
  # eager: how long the pinning took (before the first instruction);
  # overlap: how much of RAM was mapped when the guest powered off after
  # its init (the thread maps in the CPU time the guest leaves).
  case "$1" in
    eager)
      sed -n 's/.*stats: DMA: [0-9]* MiB of guest RAM mapped in \([0-9.]*\) s.*/\1/p' "${INNER_LOG}" |
        awk '{ printf "%.3f\n", $1 * 1000 }' >>"${WORK}/bo-$1-$2.map" ;;
    overlap)
      sed -n 's/.*stats: DMA: \([0-9]*\) \(of [0-9]* \)\{0,1\}MiB of guest RAM mapped.*/\1/p' "${INNER_LOG}" >>"${WORK}/bo-$1-$2.map" ;;
  esac
}

run_scenario() {
  bdf=$(pci_first 1234:11e8)
  [ -n "${bdf}" ] || { lab_result bench_dma_overlap FAIL "no edu device (1234:11e8)"; return; }
  sizes=${LAB_DMA_MIB:-256 1024 2048}
  runs=${LAB_DMA_OVERLAP_RUNS:-3}
  failed="" lines=0
  rm -f "${WORK}"/bo-*
  largest=$(echo "${sizes}" | tr ' ' '\n' | sort -n | tail -n 1)
  for way in none eager overlap; do bo_boot "${way}" "${largest}" warm; done
  for mib in ${sizes}; do
    r=0
    while [ "${r}" -lt "${runs}" ]; do
      for way in none eager overlap; do bo_boot "${way}" "${mib}" || true; done
      r=$((r + 1))
    done
    for way in none eager overlap; do
      eval "first_${way}=\$(bo_median <\"${WORK}/bo-${way}-${mib}.first\" 2>/dev/null)"
      eval "init_${way}=\$(bo_median <\"${WORK}/bo-${way}-${mib}.init\" 2>/dev/null)"
    done
    map_eager=$(bo_median <"${WORK}/bo-eager-${mib}.map" 2>/dev/null)
    mapped_overlap=$(bo_median <"${WORK}/bo-overlap-${mib}.map" 2>/dev/null)
    # What --vfio costs at start-up besides the pinning (opening the device,
    # its regions, BAR mappings, interrupts): eager's time to the first
    # instruction less its map time, per run's medians.
    setup=$(awk -v f="${first_eager}" -v m="${map_eager}" 'BEGIN { if (f == "" || m == "") print "?"; else printf "%.1f\n", f - m }')
    # shellcheck disable=SC2154 # set by the eval above
    echo "LAB-BENCH dma_overlap mib=${mib} first_none_ms=${first_none} first_eager_ms=${first_eager}" \
      "first_overlap_ms=${first_overlap} first_overlap_vs_eager=$(bo_ratio "${first_overlap}" "${first_eager}")" \
      "first_overlap_vs_none=$(bo_ratio "${first_overlap}" "${first_none}")" \
      "init_none_ms=${init_none} init_eager_ms=${init_eager} init_overlap_ms=${init_overlap}" \
      "init_overlap_vs_eager=$(bo_ratio "${init_overlap}" "${init_eager}")" \
      "init_overlap_vs_none=$(bo_ratio "${init_overlap}" "${init_none}")" \
      "eager_map_ms=${map_eager} eager_first_less_map_ms=${setup}" \
      "overlap_mapped_at_exit_mib=${mapped_overlap} runs=${runs}"
    lines=$((lines + 1))
  done
  if [ -n "${failed}" ]; then
    lab_result bench_dma_overlap FAIL "${failed}"
  else
    lab_result bench_dma_overlap PASS "${lines} sizes (LAB-BENCH dma_overlap lines above)"
  fi
}
