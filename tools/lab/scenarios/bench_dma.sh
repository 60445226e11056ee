# SPDX-License-Identifier: Apache-2.0
# Scenario bench_dma (a benchmark, not a proof): how long mapping guest RAM
# for a passed-through device takes in microvm, against the bare
# VFIO_IOMMU_MAP_DMA of the same amount of fresh memory (bench/dma_bare.cc).
# Without --hugepages microvm advises transparent huge pages, so its
# baseline is the bare map of THP-advised memory; the bare map of plain
# 4 KiB memory is shown beside it. With --hugepages both use 2 MiB hugetlb
# pages. For each size in LAB_DMA_MIB (default "64 256") and page kind, three
# microvm runs (a tiny guest with the edu passed through, --dma_map=eager:
# microvm maps before the guest runs and prints "mapped N MiB of guest RAM
# for DMA in T"; scenario bench_dma_overlap measures the overlap) and three
# bare runs; medians,
# and one line each:
#   LAB-BENCH dma mib=<N> hugepages=<0|1> microvm_ms=<ms> bare_ms=<ms>
#     ratio=<microvm/bare> microvm_ms_per_gib=<ms> [bare_4k_ms=<ms>]
# The lab's IOMMU is QEMU's emulated intel-iommu (caching mode: every map is
# a trapped invalidation), so the absolute numbers are the lab's, not
# hardware's; the ratio is what carries over.

# absl::FormatDuration text ("812.5ms", "1.25s", "950us", "1m2.5s") in ms.
duration_ms() {
  echo "$1" | awk '{
    s = $0; ms = 0
    if (match(s, /^[0-9.]+m[0-9]/)) { ms += substr(s, 1, index(s, "m") - 1) * 60000; s = substr(s, index(s, "m") + 1) }
    if (s ~ /ms$/) ms += substr(s, 1, length(s) - 2)
    else if (s ~ /us$/) ms += substr(s, 1, length(s) - 2) / 1000
    else if (s ~ /ns$/) ms += substr(s, 1, length(s) - 2) / 1e6
    else if (s ~ /s$/) ms += substr(s, 1, length(s) - 1) * 1000
    printf "%.3f\n", ms }'
}

median3() { sort -n | sed -n 2p; }

# bare_run FLAG FILE: one bare map of ${mib} MiB with FLAG (--thp,
# --hugepages or none) by a fresh process, like each microvm run (a second
# map in one process finds the allocator and the IOMMU's page tables warm);
# appends its time (ms) to FILE, or adds to ${failed} and returns 1.
bare_run() {
  # shellcheck disable=SC2086 # FLAG may be empty.
  if ! "${bare}" --group "${group}" --mib "${mib}" $1 --runs 1 >"${WORK}/bare.log" 2>&1; then
    failed="${failed} dma_bare ${mib} MiB $1: $(head -c 120 "${WORK}/bare.log");"
    return 1
  fi
  sed -n 's/.*map_ms=\([0-9.]*\).*/\1/p' "${WORK}/bare.log" >>"$2"
}

run_scenario() {
  guest=${LAB_GUESTS:-/lab/guests}/hello.elf bare=/lab/dma_bare
  [ -s "${guest}" ] || { lab_result bench_dma FAIL "no guest ${guest}"; return; }
  [ -x "${bare}" ] || { lab_result bench_dma FAIL "no ${bare} (lab.sh ships bench/dma_bare next to microvm)"; return; }
  bdf=$(pci_first 1234:11e8)
  [ -n "${bdf}" ] || { lab_result bench_dma FAIL "no edu device (1234:11e8)"; return; }
  group=/dev/vfio/$(basename "$(readlink "/sys/bus/pci/devices/${bdf}/iommu_group")")
  lines=0 failed=""
  for huge in 0 1; do
    for mib in ${LAB_DMA_MIB:-64 256}; do
      flag=""
      if [ "${huge}" = 1 ]; then
        flag=--hugepages
        echo $((mib / 2 + 4)) >/proc/sys/vm/nr_hugepages
        have=$(cat /proc/sys/vm/nr_hugepages)
        if [ "${have}" -lt $((mib / 2)) ]; then
          failed="${failed} only ${have} huge pages for ${mib} MiB;"
          continue
        fi
      fi
      # Three rounds, each microvm then its baselines, so a change in the
      # host's load hits both sides: the same kind of memory as microvm's
      # (THP advised, or hugetlb); without huge pages also plain 4 KiB.
      : >"${WORK}/vmm.ms"; : >"${WORK}/bare.ms"; : >"${WORK}/bare4k.ms"
      base_flag=${flag:---thp}
      for run in 1 2 3; do
        timeout 120 "${MICROVM}" --kernel "${guest}" --mem "${mib}" --vfio "${bdf}" --dma_map=eager ${flag} \
          >"${WORK}/dma.log" 2>&1
        t=$(sed -n 's/.*mapped [0-9]* MiB of guest RAM for DMA in \([^ ]*\).*/\1/p' "${WORK}/dma.log")
        if [ -z "${t}" ]; then
          failed="${failed} microvm ${mib} MiB ${flag}: $(grep -m1 'microvm:' "${WORK}/dma.log" | cut -c1-120);"
          continue 2
        fi
        duration_ms "${t}" >>"${WORK}/vmm.ms"
        bare_run "${base_flag}" "${WORK}/bare.ms" || continue 2
        if [ "${huge}" = 0 ]; then bare_run "" "${WORK}/bare4k.ms" || continue 2; fi
      done
      b=$(median3 <"${WORK}/bare.ms") extra=""
      [ "${huge}" = 0 ] && extra=" bare_4k_ms=$(median3 <"${WORK}/bare4k.ms")"
      vmm=$(median3 <"${WORK}/vmm.ms")
      echo "LAB-BENCH dma mib=${mib} hugepages=${huge} microvm_ms=${vmm} bare_ms=${b}" \
        "ratio=$(awk -v a="${vmm}" -v b="${b}" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')" \
        "microvm_ms_per_gib=$(awk -v a="${vmm}" -v m="${mib}" 'BEGIN { printf "%.1f", a * 1024 / m }')${extra}"
      lines=$((lines + 1))
    done
    echo 0 >/proc/sys/vm/nr_hugepages
  done
  if [ -n "${failed}" ]; then
    lab_result bench_dma FAIL "${failed}"
  else
    lab_result bench_dma PASS "${lines} measurements (LAB-BENCH dma lines above)"
  fi
}
