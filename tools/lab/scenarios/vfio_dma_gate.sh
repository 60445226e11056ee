# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_dma_gate: guest RAM is mapped for DMA while the guest boots
# (--dma_map=overlap, the default), and Bus Master Enable waits for it.
#
#  1. The edu tiny guest with 1 GiB and "edu.dma_first": its first acts are
#     Bus Master Enable and a DMA to just below 256 MiB (the top of edu's
#     28-bit reach, the fourth of sixteen 64 MiB chunks) and back. Mapping
#     1 GiB takes seconds under the lab's emulated IOMMU and the guest gets
#     there in milliseconds, so the write must wait: the DMA lands, --stats
#     shows Bus Master Enable waited (once, for more than 0 s) and the
#     mapping ended after the first guest instruction; then the guest's
#     usual checks (INTx, MSI, DMA) pass. The device itself was set up
#     after the first instruction too (--stats: "devices set up S s after
#     microvm started"), and the guest's first config access, which came
#     before that, waited for it and found the device (how often config
#     access waited is reported, not judged: it is a race the guest almost
#     always wins).
#  2. The same with --dma_map=eager: all of RAM mapped before the first
#     instruction, nothing waits.
#  3. A mapping refused part-way: vfio_iommu_type1's dma_entry_limit set to
#     4 mappings, so a fifth chunk fails (ENOSPC) while the guest waits at
#     the gate (the waiting vCPU and the mapper thread both map, so which
#     chunk fails varies): microvm ends non-zero with one line naming the
#     limit and how far it got, the device never saw bus mastering, and with the limit
#     back the next microvm gets the device and passes.
. "${LAB}/scenarios/vfio_edu.sh"

# gate_run NAME ARGS...: one microvm run of the edu guest with 1 GiB; sets
# GATE_LOG and GATE_STATUS.
gate_run() {
  _name=$1
  shift
  GATE_LOG=${WORK}/dma_gate-${_name}.log
  echo "LAB-AGENT: microvm --kernel edu.elf --mem 1024 --vfio $(edu_bdf) $*"
  timeout 120 "${MICROVM}" --kernel "${LAB_GUESTS:-/lab/guests}/edu.elf" --mem 1024 \
    --vfio "$(edu_bdf)" --stats "$@" >"${GATE_LOG}" 2>&1
  GATE_STATUS=$?
  sed 's/^/inner| /' "${GATE_LOG}"
}

# The stats line's DMA part: "DMA: ... Bus Master Enable waited N times, S s".
gate_waits() { sed -n 's/.*Bus Master Enable waited \([0-9]*\) times, \([0-9.]*\) s in all.*/\1 \2/p' "${GATE_LOG}"; }

run_scenario() {
  [ -s "${LAB_GUESTS:-/lab/guests}/edu.elf" ] || { lab_result vfio_dma_gate FAIL "no edu guest"; return; }
  [ -n "$(edu_bdf)" ] || { lab_result vfio_dma_gate FAIL "no edu device (1234:11e8)"; return; }
  limit_file=/sys/module/vfio_iommu_type1/parameters/dma_entry_limit
  [ -w "${limit_file}" ] || { lab_result vfio_dma_gate FAIL "no ${limit_file}"; return; }

  # 1. overlap: the first DMA waits at the gate and lands.
  gate_run overlap --cmdline edu.dma_first
  if [ "${GATE_STATUS}" != 0 ] || ! grep -q '^PASS edu' "${GATE_LOG}" ||
     ! grep -q '^edu: first act: Bus Master Enable and DMA of 1024 bytes RAM(0xffe0000) -> edu -> RAM(0xfff0000) ok' "${GATE_LOG}"; then
    lab_result vfio_dma_gate FAIL "overlap: status ${GATE_STATUS}: $(grep -m1 -E '^FAIL|microvm: [^s]' "${GATE_LOG}" | cut -c1-200)"
    return
  fi
  waits=$(gate_waits)
  if [ "${waits% *}" != 1 ] || ! awk -v s="${waits#* }" 'BEGIN { exit !(s > 0) }'; then
    lab_result vfio_dma_gate FAIL "overlap: Bus Master Enable did not wait once: '${waits}' ($(grep 'stats: DMA' "${GATE_LOG}"))"
    return
  fi
  first=$(sed -n 's/.*first guest instruction at \([0-9.]*\) ms.*/\1/p' "${GATE_LOG}")
  done_s=$(sed -n 's/.*done \([0-9.]*\) s after microvm started.*/\1/p' "${GATE_LOG}")
  if [ -z "${first}" ] || [ -z "${done_s}" ] ||
     ! awk -v f="${first}" -v d="${done_s}" 'BEGIN { exit !(d * 1000 > f) }'; then
    lab_result vfio_dma_gate FAIL "overlap: the mapping did not end after the first instruction: first=${first} ms done=${done_s} s"
    return
  fi
  ready_s=$(sed -n 's/.*devices set up \([0-9.]*\) s after microvm started.*/\1/p' "${GATE_LOG}")
  config_waits=$(sed -n 's/.*PCI config access waited \([0-9]*\) times.*/\1/p' "${GATE_LOG}")
  if [ -z "${ready_s}" ] || ! awk -v f="${first}" -v r="${ready_s}" 'BEGIN { exit !(r * 1000 > f) }'; then
    lab_result vfio_dma_gate FAIL "overlap: the device was not set up after the first instruction: first=${first} ms ready=${ready_s} s"
    return
  fi
  overlap_first=${first} overlap_waits=${waits}

  # 2. eager: mapped before the guest runs, nothing waits.
  gate_run eager --cmdline edu.dma_first --dma_map=eager
  if [ "${GATE_STATUS}" != 0 ] || ! grep -q '^PASS edu' "${GATE_LOG}" ||
     ! grep -q 'microvm: mapped 1024 MiB of guest RAM for DMA in ' "${GATE_LOG}" ||
     grep -q 'Bus Master Enable waited' "${GATE_LOG}"; then
    lab_result vfio_dma_gate FAIL "eager: status ${GATE_STATUS}: $(grep -m1 -E '^FAIL|stats: DMA' "${GATE_LOG}" | cut -c1-200)"
    return
  fi
  eager_first=$(sed -n 's/.*first guest instruction at \([0-9.]*\) ms.*/\1/p' "${GATE_LOG}")

  # 3. refused part-way: 4 mappings allowed, the fifth chunk fails.
  old_limit=$(cat "${limit_file}")
  echo 4 >"${limit_file}"
  gate_run refused --cmdline edu.dma_first
  refused_status=${GATE_STATUS}
  echo "${old_limit}" >"${limit_file}"
  errors=$(grep -c '^microvm: ' "${GATE_LOG}" | tr -d ' ')
  line=$(grep '^microvm: ' "${GATE_LOG}" | grep -v '^microvm: stats' | tail -n 1)
  if [ "${GATE_STATUS}" = 0 ] || [ "${GATE_STATUS}" -ge 124 ] ||
     ! echo "${line}" | grep -qE 'guest RAM for DMA, (64|128|192|256) of 1024 MiB mapped: .*dma_entry_limit'; then
    lab_result vfio_dma_gate FAIL "refused part-way: status ${GATE_STATUS}, last line: ${line:-none} (${errors} microvm lines)"
    return
  fi
  if grep -q '^edu: first act' "${GATE_LOG}"; then
    lab_result vfio_dma_gate FAIL "refused part-way: the guest's DMA ran: $(grep '^edu: first act' "${GATE_LOG}")"
    return
  fi
  pgrep -x microvm >/dev/null && { lab_result vfio_dma_gate FAIL "a microvm is still running"; return; }
  gate_run after --cmdline edu.dma_first
  if [ "${GATE_STATUS}" != 0 ] || ! grep -q '^PASS edu' "${GATE_LOG}"; then
    lab_result vfio_dma_gate FAIL "after the refused run: status ${GATE_STATUS}: $(grep -m1 -E '^FAIL|microvm: [^s]' "${GATE_LOG}" | cut -c1-200)"
    return
  fi
  lab_result vfio_dma_gate PASS "1 GiB, edu's first DMA right after Bus Master Enable landed; overlap: first instruction ${overlap_first} ms, device set up at ${ready_s} s (config access waited ${config_waits} time(s)), Bus Master Enable waited ${overlap_waits% *} time(s) ${overlap_waits#* } s; eager: first instruction ${eager_first} ms, no wait; dma_entry_limit=4: status ${refused_status}, one line: ${line#microvm: }; the next run passes"
}
