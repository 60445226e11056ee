#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The lab: try microvm's passthrough set-up on a laptop with no spare device.
#
# Starts the nested machine of tests/nested/nested_run.sh (Debian's QEMU under
# TCG, -cpu EPYC,+svm, Debian's cloud kernel with kvm-amd) as a q35 machine
# with an emulated Intel IOMMU (interrupt remapping, caching mode) and three
# devices to pass through, each in its own IOMMU group:
#   edu             QEMU's teaching device (INTx, MSI, DMA)        1234:11e8
#   ivshmem-plain   BAR 2 backed by a host file, so this host can read what
#                   the guests wrote                               1af4:1110
#   nvme            MSI-X; a small raw image as its drive          1b36:0010
# plus, each alone in its group too, a second ivshmem-plain whose BAR 2 is
# 1 GiB (a sparse host file: it costs neither RAM nor disk until written),
# larger than microvm's 32-bit MMIO window, and an edu with an expansion ROM
# (an 8 KiB image made here, romfile=); both sit at fixed addresses after
# the others (00:07.0, 00:08.0), so scenarios that take the first ivshmem or
# edu still get the plain ones; plus two PCIe-to-PCI bridges whose devices
# share an IOMMU group each: two more edus (a group of two, for passing both
# at once), and an edu next to a pci-serial that Linux's serial driver keeps
# (a group that is not viable);
# loads the VFIO modules, binds those devices to vfio-pci and runs the lab
# agent (tools/lab/agent.sh) there, which boots microvm with the same Debian
# kernel and a small initramfs (tools/lab/make_inner_initramfs.sh) and runs
# the scenarios (tools/lab/scenarios/*.sh). Each reports lines
#   LAB-RESULT <scenario> PASS|FAIL <detail>
# The inner guest's console is shown with the prefix "inner| ".
#
# Usage: tools/lab/lab.sh [options] [SCENARIO...]     (default: boot)
#   --microvm PATH     static microvm binary (default: build
#                      //vmm:microvm_static with bazel $BAZEL_STARTUP_OPTS
#                      --config=release, the optimized release build)
#   --kernel PATH      inner guest kernel, a bzImage (default: the cached
#                      Debian one); the inner boots use the vmlinux taken
#                      out of it (tools/lab/extract_vmlinux.sh)
#   --guests DIR       tiny guests (*.elf) for the passthrough scenarios (default:
#                      tests/guests next to the microvm binary)
#   --ivshmem PATH     ivshmem backing file, kept afterwards (created, 1 MiB,
#                      if missing; its size must be a power of two); default:
#                      a temporary file, removed
#   --cmd COMMAND      shell command for scenario "cmd" (implies it when no
#                      scenario is named)
#   --cpus N / --mem MIB   inner machine for scenario "cmd" (default 1 / 256)
#   --inner-log        show the inner kernel's whole boot log (default: its
#                      command line has "quiet"; the log costs ~20 s here)
#   --timeout SECONDS  bound on the whole lab run (default 60 + 100 per scenario)
#   --fetch GUEST=HOST after the run, copy file GUEST of the lab machine to
#                      HOST (repeatable; e.g. /lab/out/passthrough.json of
#                      scenario bench_passthrough)
#   --list             list the scenarios
#   --prepare          only build and cache the initramfs images
#   -v                 also show the lab machine's kernel console (stderr)
# Environment: LAB_BENCH_SAMPLES, LAB_BENCH_REPETITIONS (scenario
# bench_passthrough), BAZEL_STARTUP_OPTS (the build without --microvm).
# Exit status: 0 when every scenario passed; 1 when one failed or reported
# nothing; the nested machine's status (123 died, 124 timeout, 125 set-up) otherwise.
# Nothing is left behind: QEMU is killed, temporary files removed; the
# initramfs images stay in $MICROVM_CACHE (default /var/tmp/microvm-cache).
set -euo pipefail

readonly ME="lab"
readonly CACHE="${MICROVM_CACHE:-/var/tmp/microvm-cache}"
SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SELF_DIR
readonly NESTED_RUN="${SELF_DIR}/../../tests/nested/nested_run.sh"
# Insmod order after KVM's: vfio_virqfd is its own module in 6.1 kernels and
# part of vfio.ko from 6.2 on (see ../shared/ENVIRONMENT.md beside this repository).
readonly VFIO_MODULES=(drivers/vfio/vfio drivers/vfio/vfio_iommu_type1
  drivers/vfio/vfio_virqfd drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci)
readonly PASSTHROUGH_IDS=(1234:11e8 1af4:1110 1b36:0010)

# Size of the second ivshmem's BAR 2: above microvm's 32-bit MMIO window
# (512 MiB), so it must go to the 64-bit window above RAM.
readonly BIG_SHM_SIZE=$((1 << 30))

die() { echo "${ME}: error: $*" >&2; exit 125; }

# Writes the bytes given as numbers (decimal or 0x hex).
# shellcheck disable=SC2059 # the format is an octal escape made on purpose.
put_bytes() { local b; for b in "$@"; do printf "\\$(printf '%03o' "${b}")"; done; }

# make_rom FILE TOKEN: an 8 KiB PCI expansion ROM image (PCI Firmware 3.0,
# 5.1): 55 AA, the length in 512-byte units, a far return; at 0x18 the
# offset of the "PCIR" data structure (edu's IDs and class, image length,
# code type 3 (EFI) so that SeaBIOS does not run it, "last image"); from 0x40
# a text pattern with TOKEN; the last byte makes all bytes sum to 0 mod 256.
# Linux (pci_get_rom_size) reads a ROM only as far as its images' lengths.
make_rom() {
  local size=8192 sum
  {
    put_bytes 0x55 0xaa $((size / 512)) 0xcb
    head -c 20 /dev/zero
    put_bytes 0x20 0 0 0 0 0 0 0
    printf 'PCIR'
    put_bytes 0x34 0x12 0xe8 0x11 0 0 24 0 0 0 0xff 0 $((size / 512)) 0 1 0 3 0x80 0 0
    head -c 8 /dev/zero
    awk -v t="microvm lab ROM $2 " -v n=$((size - 0x40 - 1)) \
      'BEGIN { s = t; while (length(s) < n) s = s t; printf "%s", substr(s, 1, n) }'
  } >"$1"
  sum=$(od -An -v -tu1 "$1" | awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s % 256 }')
  put_bytes $(((256 - sum) % 256)) >>"$1"
  [[ $(stat -c %s "$1") == "${size}" ]] || die "make_rom: $1 is not ${size} bytes"
}

microvm="" kernel="" guests="" ivshmem="" cmd="" cpus=1 mem=256 timeout="" prepare=0 quiet=1
scenarios=() fetch_args=()
while (( $# )); do
  case "$1" in
    --microvm) microvm="$2"; shift 2 ;;
    --microvm=*) microvm="${1#*=}"; shift ;;
    --kernel) kernel="$2"; shift 2 ;;
    --guests) guests="$2"; shift 2 ;;
    --ivshmem) ivshmem="$2"; shift 2 ;;
    --cmd) cmd="$2"; shift 2 ;;
    --cpus) cpus="$2"; shift 2 ;;
    --mem) mem="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --fetch) fetch_args+=(--fetch "$2"); shift 2 ;;
    --prepare) prepare=1; shift ;;
    --inner-log) quiet=0; shift ;;
    --list) ls "${SELF_DIR}/scenarios" | grep -v '^_' | sed 's/\.sh$//'; exit 0 ;;
    -v) export MICROVM_NESTED_VERBOSE=1; shift ;;
    -h|--help) sed -n '3,/^set -euo pipefail$/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (try --help)" ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
if (( ${#scenarios[@]} == 0 )); then
  if [[ -n ${cmd} ]]; then scenarios=(cmd); else scenarios=(boot); fi
fi
for s in "${scenarios[@]}"; do
  [[ ${s} != _* && -f ${SELF_DIR}/scenarios/${s}.sh ]] ||
    die "no scenario '${s}'; have: $(ls "${SELF_DIR}/scenarios" | grep -v '^_' | sed 's/\.sh$//' | tr '\n' ' ')"
done
[[ -f ${NESTED_RUN} ]] || die "no ${NESTED_RUN}"
[[ -s ${CACHE}/kernel/version ]] || die "no kernel in ${CACHE}/kernel; run tools/setup.sh"
version=$(cat "${CACHE}/kernel/version")
moddir="${CACHE}/kernel/root/lib/modules/${version}/kernel"

module_args=()
for m in "${VFIO_MODULES[@]}"; do
  if [[ -f ${moddir}/${m}.ko || -f ${moddir}/${m}.ko.xz ]]; then
    module_args+=(--module "${m}")
  elif [[ ${m} != */vfio_virqfd ]]; then
    die "kernel ${version} has no module ${m} under ${moddir}"
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lab.XXXXXX")
cleanup() { rm -rf "${work}"; }
trap cleanup EXIT
trap 'echo "${ME}: interrupted" >&2; exit 130' INT TERM HUP

inner_initrd=$(bash "${SELF_DIR}/make_inner_initramfs.sh" "${work}") ||
  die "building the inner initramfs failed"
if [[ ${prepare} == 1 ]]; then
  bash "${NESTED_RUN}" --prepare "${module_args[@]}" >/dev/null ||
    die "building the lab machine's initramfs failed"
  echo "${ME}: initramfs images ready (inner: ${inner_initrd})"
  exit 0
fi

kernel="${kernel:-${CACHE}/kernel/vmlinuz}"
[[ -s ${kernel} ]] || die "no inner kernel ${kernel}"
# The inner boots use the uncompressed kernel (agent.sh: it reaches the init
# sooner); the bzImage goes along for the guide and bench_qemu_boot.
bash "${SELF_DIR}/extract_vmlinux.sh" "${kernel}" "${work}/vmlinux" ||
  die "taking the vmlinux out of ${kernel} failed"
if [[ -z ${microvm} ]]; then
  # shellcheck disable=SC2206 # startup options are separate words on purpose.
  bazel_cmd=(bazel ${BAZEL_STARTUP_OPTS:-})
  echo "${ME}: building //vmm:microvm_static (the release build, -c opt)" >&2
  (cd "${SELF_DIR}/../.." && "${bazel_cmd[@]}" build --config=release //vmm:microvm_static //tests/guests:guests //bench:dma_bare //bench:latency) >&2 ||
    die "bazel build --config=release //vmm:microvm_static //tests/guests:guests //bench:dma_bare //bench:latency failed"
  microvm="$(cd "${SELF_DIR}/../.." && "${bazel_cmd[@]}" info --config=release bazel-bin 2>/dev/null)/vmm/microvm_static"
fi
[[ -x ${microvm} ]] || die "no microvm binary at ${microvm}"
# Which build every scenario (and every LAB-BENCH number) ran: bench/report.sh
# reads this line from the log.
echo "${ME}: microvm build: $("${microvm}" --version | tr '\n' ' ' | sed 's/ $//')"
# Tiny guests for the passthrough scenarios (tests/guests/*.elf): next to
# microvm in bazel-bin or in a test's runfiles, unless --guests says where.
[[ -n ${guests} ]] || guests="$(dirname "${microvm}")/../tests/guests"
guest_args=()
[[ -d ${guests} ]] && guest_args=(--dir "/lab/guests=${guests}")
# The DMA benchmark's bare baseline (scenario bench_dma), likewise.
dma_bare="$(dirname "${microvm}")/../bench/dma_bare"
[[ -x ${dma_bare} ]] && guest_args+=(--file "/lab/dma_bare=${dma_bare}")
# The benchmark program and its guests (scenario bench_passthrough): dynamic,
# so its shared libraries go along.
latency="$(dirname "${microvm}")/../bench/latency"
if [[ -x ${latency} && -d $(dirname "${microvm}")/../bench/guests ]]; then
  guest_args+=(--file "/lab/latency=${latency}" --libs-for "${latency}"
    --dir "/lab/bench_guests=$(dirname "${microvm}")/../bench/guests")
fi
# Debian's QEMU, microvm's peer in scenario bench_qemu_boot: the binary at
# its own path (it finds its firmware relative to itself), its shared
# libraries and its firmware directories. Only for that scenario: it adds
# ~60 MB to the lab machine's initramfs. Its 5 x (1 + repetitions) inner
# boots take up to ~8 s each (q35): that much more for the default time-out.
if [[ " ${scenarios[*]} " == *" bench_qemu_boot "* ]]; then
  qemu_bin=/usr/bin/qemu-system-x86_64
  [[ -x ${qemu_bin} ]] || die "no ${qemu_bin}; run tools/setup.sh (qemu-system-x86)"
  guest_args+=(--file "${qemu_bin}=${qemu_bin}" --libs-for "${qemu_bin}"
    --dir /usr/share/qemu=/usr/share/qemu --dir /usr/share/seabios=/usr/share/seabios)
  [[ -n ${timeout} ]] ||
    timeout=$((60 + 100 * ${#scenarios[@]} + 5 * (1 + ${LAB_BENCH_REPETITIONS:-3}) * 8))
fi

# ivshmem's backing file: the outer host's view of the shared BAR.
if [[ -z ${ivshmem} ]]; then
  ivshmem="${work}/ivshmem.bin"
fi
[[ -e ${ivshmem} ]] || truncate -s 1M "${ivshmem}" || die "cannot create ${ivshmem}"
shm_size=$(stat -L -c %s "${ivshmem}")
(( shm_size > 0 && (shm_size & (shm_size - 1)) == 0 )) ||
  die "${ivshmem}: size ${shm_size} is not a power of two (ivshmem needs one)"
nvme_img="${work}/nvme.img"
truncate -s 16M "${nvme_img}"
# A token the agent writes through the ivshmem BAR (scenario ivshmem).
shm_token=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
# The large-BAR ivshmem's backing file: sparse, so only the pages the guests
# write take disk (and QEMU maps it shared, so no RAM either); scenario
# vfio_large_bar writes its token into the last 4 bytes.
big_shm="${work}/ivshmem-big.bin"
truncate -s "${BIG_SHM_SIZE}" "${big_shm}" || die "cannot create ${big_shm}"
big_token=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
# The expansion ROM of the lab's last edu (scenario vfio_rom), with a token
# of this run in it so that no other ROM can pass for it.
rom="${work}/edu-rom.bin"
make_rom "${rom}" "$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"
rom_sha256=$(sha256sum "${rom}" | cut -d' ' -f1)

binds=()
for id in "${PASSTHROUGH_IDS[@]}"; do binds+=(--bind "${id}"); done
timeout="${timeout:-$((60 + 100 * ${#scenarios[@]}))}"
# The lab machine's RAM. Scenario bench_dma_overlap boots inner guests of up
# to 2 GiB with all of it pinned for DMA, and about 30 of them: more RAM and
# more time. (TCG allocates the lab machine's RAM as it is touched.)
machine_mem=2048
if [[ " ${scenarios[*]} " == *" bench_dma_overlap "* ]]; then
  machine_mem=4608
  timeout=$((timeout + 500))
fi

echo "${ME}: starting the lab machine (q35 + intel-iommu, edu, ivshmem, nvme, ...);" \
  "scenarios: ${scenarios[*]}" >&2
log="${work}/lab.log"
start=$(date +%s.%N)
status=0
# no_timer_check: on a loaded host the lab kernel's boot-time check that the
# IO-APIC timer ticks (through interrupt remapping) once failed under TCG and
# panicked it ("timer doesn't work through Interrupt-remapped IO-APIC").
bash "${NESTED_RUN}" \
  --machine q35,kernel-irqchip=split --mem "${machine_mem}" \
  --qemu-arg -device --qemu-arg intel-iommu,intremap=on,caching-mode=on \
  --qemu-arg -device --qemu-arg edu \
  --qemu-arg -object \
  --qemu-arg "memory-backend-file,id=labshm,share=on,mem-path=${ivshmem},size=${shm_size}" \
  --qemu-arg -device --qemu-arg ivshmem-plain,memdev=labshm \
  --qemu-arg -drive --qemu-arg "file=${nvme_img},if=none,id=labnvme,format=raw" \
  --qemu-arg -device --qemu-arg nvme,serial=lab0001,drive=labnvme \
  --qemu-arg -object \
  --qemu-arg "memory-backend-file,id=labbig,share=on,mem-path=${big_shm},size=${BIG_SHM_SIZE}" \
  --qemu-arg -device --qemu-arg ivshmem-plain,memdev=labbig,bus=pcie.0,addr=0x7 \
  --qemu-arg -device --qemu-arg "edu,bus=pcie.0,addr=0x8,romfile=${rom}" \
  --qemu-arg -device --qemu-arg pcie-pci-bridge,id=labbr1,bus=pcie.0,addr=0x5 \
  --qemu-arg -device --qemu-arg edu,bus=labbr1,addr=0x1 \
  --qemu-arg -device --qemu-arg edu,bus=labbr1,addr=0x2 \
  --qemu-arg -device --qemu-arg pcie-pci-bridge,id=labbr2,bus=pcie.0,addr=0x6 \
  --qemu-arg -device --qemu-arg edu,bus=labbr2,addr=0x1 \
  --qemu-arg -device --qemu-arg pci-serial,bus=labbr2,addr=0x2 \
  --append "intel_iommu=on iommu=pt no_timer_check" \
  "${module_args[@]}" \
  --file "/lab/agent.sh=${SELF_DIR}/agent.sh" \
  --dir "/lab/scenarios=${SELF_DIR}/scenarios" \
  --file "/lab/json_runs.awk=${SELF_DIR}/../../bench/json_runs.awk" \
  --file "/lab/README.md=${SELF_DIR}/../../README.md" \
  "${guest_args[@]}" \
  --file "/lab/microvm=${microvm}" \
  --file "/lab/vmlinuz=${kernel}" \
  --file "/lab/vmlinux=${work}/vmlinux" \
  --file "/lab/inner.cpio.gz=${inner_initrd}" \
  --env "LAB_CMD=${cmd}" --env "LAB_CPUS=${cpus}" --env "LAB_MEM=${mem}" \
  --env "LAB_SHM_TOKEN=${shm_token}" --env "LAB_INNER_QUIET=${quiet}" \
  --env "LAB_BIG_SHM_SIZE=${BIG_SHM_SIZE}" --env "LAB_BIG_SHM_TOKEN=${big_token}" \
  --env "LAB_ROM_SHA256=${rom_sha256}" \
  --env "LAB_BENCH_SAMPLES=${LAB_BENCH_SAMPLES:-}" \
  --env "LAB_DMA_MIB=${LAB_DMA_MIB:-}" --env "LAB_DMA_OVERLAP_RUNS=${LAB_DMA_OVERLAP_RUNS:-}" \
  --env "LAB_BENCH_REPETITIONS=${LAB_BENCH_REPETITIONS:-}" \
  --timeout "${timeout}" \
  "${fetch_args[@]}" \
  -- sh /lab/agent.sh "${binds[@]}" "${scenarios[@]}" | tee "${log}" || status=$?
elapsed=$(echo "${start} $(date +%s.%N)" | awk '{printf "%.1f", $2 - $1}')

# The outer host's half of scenario ivshmem: the agent wrote the token at
# offset 0 of BAR 2; it must be in the backing file now.
if grep -qE '^LAB-RESULT (vfio_)?ivshmem PASS' "${log}"; then
  seen=$(od -An -N4 -tx4 "${ivshmem}" | tr -d ' \n')
  if [[ ${seen} == "${shm_token}" ]]; then
    echo "LAB-RESULT ivshmem PASS host sees token ${seen} in ${ivshmem}" | tee -a "${log}"
  else
    echo "LAB-RESULT ivshmem FAIL host reads ${seen} from ${ivshmem}, expected ${shm_token}" |
      tee -a "${log}"
  fi
fi

# The outer host's half of scenario vfio_large_bar: the inner guest wrote
# its token into the last 4 bytes of the 1 GiB BAR.
if grep -q '^LAB-RESULT vfio_large_bar PASS' "${log}"; then
  seen=$(od -An -N4 -j $((BIG_SHM_SIZE - 4)) -tx4 "${big_shm}" | tr -d ' \n')
  used=$(du -k "${big_shm}" | cut -f1)
  if [[ ${seen} == "${big_token}" ]]; then
    echo "LAB-RESULT vfio_large_bar PASS host sees token ${seen} at offset" \
      "$((BIG_SHM_SIZE - 4)) of the ${BIG_SHM_SIZE}-byte file (${used} KiB on disk)" | tee -a "${log}"
  else
    echo "LAB-RESULT vfio_large_bar FAIL host reads ${seen} at offset" \
      "$((BIG_SHM_SIZE - 4)) of ${big_shm}, expected ${big_token}" | tee -a "${log}"
  fi
fi

missing=()
for s in "${scenarios[@]}"; do
  grep -q "^LAB-RESULT ${s} " "${log}" || missing+=("${s}")
done
fails=$(grep -c '^LAB-RESULT [^ ]* FAIL' "${log}" || true)
passes=$(grep -c '^LAB-RESULT [^ ]* PASS' "${log}" || true)
echo "${ME}: ${passes} passed, ${fails} failed${missing[*]:+, no result from: ${missing[*]}};" \
  "lab ran ${elapsed} s" >&2
if (( status == 0 )) && (( fails > 0 || ${#missing[@]} > 0 )); then status=1; fi
if (( status == 0 )) && (( passes == 0 )); then status=1; fi
if (( status != 0 )) && (( status < 124 )) && (( fails == 0 )) && (( ${#missing[@]} == 0 )); then
  status=1
fi
exit "${status}"
