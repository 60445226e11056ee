#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Prepares a Debian 12 machine to build and test microvm. Idempotent: every
# step checks whether it is already done.
#
#  1. Installs the build and test packages with apt-get (needs root when
#     something is missing).
#  2. Puts Debian's cloud kernel into the cache for the nested test machine
#     (tests/nested/): $MICROVM_CACHE (default /var/tmp/microvm-cache)/kernel/
#       vmlinuz   the bzImage
#       version   the kernel release, e.g. 6.1.0-56-cloud-amd64
#       root/     the package unpacked with dpkg -x (root/lib/modules/<version>)
#  3. Builds the nested machine's base initramfs into $MICROVM_CACHE/initramfs,
#     and the lab's (tools/lab/lab.sh --prepare: the same with the VFIO
#     modules, plus the inner guest's initramfs in $MICROVM_CACHE/lab).
#
# Usage: tools/setup.sh [--refresh-kernel]
set -euo pipefail

readonly CACHE="${MICROVM_CACHE:-/var/tmp/microvm-cache}"
readonly KERNEL_DIR="${CACHE}/kernel"

# Everything the build (Bazel, C++, system libraries), the tests (nested QEMU
# machine, busybox initramfs, kernel modules) and the tools need.
readonly PACKAGES=(
  bazel-bootstrap g++ pkg-config
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev linux-libc-dev
  qemu-system-x86 busybox-static cpio xz-utils
  # tools/lab/extract_vmlinux.sh: the decompressors kernels are packed with
  # (Debian's cloud kernel: lz4).
  lz4 zstd bzip2
  clang libclang-rt-14-dev llvm acpica-tools gnuplot-nox
  # kvm_test(valgrind = True): memcheck, and glibc's detached debug info,
  # without which valgrind cannot start (it needs ld.so's strlen symbol).
  valgrind libc6-dbg
  # The sandbox (vmm/sandbox): seccomp filters, linked statically.
  libseccomp-dev
)

log() { echo "setup.sh: $*"; }
die() { echo "setup.sh: error: $*" >&2; exit 1; }

refresh_kernel=0
for arg in "$@"; do
  case "${arg}" in
    --refresh-kernel) refresh_kernel=1 ;;
    -h|--help) sed -n '3,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '${arg}' (try --help)" ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
  if [[ ${apt_updated} == 0 ]]; then
    log "apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed; check /etc/apt/sources.list and the network"
    apt_updated=1
  fi
}

need_root() {
  [[ $(id -u) == 0 ]] || die "$1 needs root; run: sudo $0"
}

# --- 1. packages -------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "${p}" 2>/dev/null || true)
  [[ ${status} == ii* ]] || missing+=("${p}")
done
if (( ${#missing[@]} )); then
  need_root "installing ${missing[*]}"
  # Package lists may be absent (fresh container) or stale (404 on install).
  if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
    apt_update
  fi
  log "installing ${missing[*]}"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      die "apt-get install ${missing[*]} failed"
  fi
else
  log "packages: all installed"
fi

# --- 2. kernel for the nested test machine -----------------------------------
kernel_ready() {
  [[ -s ${KERNEL_DIR}/vmlinuz && -s ${KERNEL_DIR}/version ]] &&
    [[ -d ${KERNEL_DIR}/root/lib/modules/$(cat "${KERNEL_DIR}/version") ]]
}

# The nested machine's base initramfs (busybox, KVM modules, init), cached by
# content. Built here because tests run in Bazel's sandbox, where the cache
# directory is read-only.
prepare_initramfs() {
  local out
  out=$(bash "$(dirname "$0")/../tests/nested/nested_run.sh" --prepare 2>&1) ||
    die "building the nested machine's initramfs failed: ${out}"
  log "initramfs: ${out#nested-run: }"
  out=$(bash "$(dirname "$0")/lab/lab.sh" --prepare 2>&1) ||
    die "building the lab's initramfs images failed: ${out}"
  log "lab: ${out#lab: }"
}

if [[ ${refresh_kernel} == 0 ]] && kernel_ready; then
  log "kernel: $(cat "${KERNEL_DIR}/version") already in ${KERNEL_DIR}"
  prepare_initramfs
  exit 0
fi

mkdir -p "${CACHE}" || die "cannot create cache directory ${CACHE} (set MICROVM_CACHE)"
[[ -w ${CACHE} ]] || die "cache directory ${CACHE} is not writable (set MICROVM_CACHE)"

if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
  need_root "apt-get update (package lists do not know linux-image-cloud-amd64)"
  apt_update
fi

work=$(mktemp -d "${CACHE}/setup.XXXXXX")
trap 'rm -rf "${work}"' EXIT
# apt-get download drops privileges to _apt, which must be able to write here.
chmod 0777 "${work}"

download() {  # package name -> path of the .deb in ${work}
  (cd "${work}" && apt-get download -qq "$1" >/dev/null 2>&1) ||
    die "apt-get download $1 failed; try: sudo apt-get update"
  local deb
  deb=$(ls "${work}"/"$1"_*.deb 2>/dev/null | head -n1)
  [[ -n ${deb} ]] || die "apt-get download $1 produced no .deb"
  echo "${deb}"
}

# The metapackage names the current image package in its Depends; apt resolves
# the version, nothing is hard-coded here.
meta=$(download linux-image-cloud-amd64)
image=$(dpkg-deb -f "${meta}" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' |
  grep -m1 '^linux-image-' || true)
[[ -n ${image} ]] || die "linux-image-cloud-amd64 does not depend on a linux-image-* package"
# Prefer the unsigned build (same kernel, without the Secure Boot signature).
if apt-cache show "${image}-unsigned" >/dev/null 2>&1; then
  image="${image}-unsigned"
fi
log "kernel: downloading ${image}"
deb=$(download "${image}")

staging="${work}/kernel"
mkdir -p "${staging}/root"
dpkg -x "${deb}" "${staging}/root" || die "dpkg -x ${deb} failed"
version=$(ls "${staging}/root/lib/modules" 2>/dev/null | head -n1)
[[ -n ${version} ]] || die "${image} holds no lib/modules/<version>"
[[ -s ${staging}/root/boot/vmlinuz-${version} ]] || die "${image} holds no boot/vmlinuz-${version}"
cp "${staging}/root/boot/vmlinuz-${version}" "${staging}/vmlinuz"
echo "${version}" >"${staging}/version"
chmod -R a+rX "${staging}"

# Swap in atomically so a concurrent test never sees half a kernel.
rm -rf "${KERNEL_DIR}.old"
[[ -e ${KERNEL_DIR} ]] && mv "${KERNEL_DIR}" "${KERNEL_DIR}.old"
mv "${staging}" "${KERNEL_DIR}"
rm -rf "${KERNEL_DIR}.old"
chmod a+rx "${CACHE}"
log "kernel: ${version} in ${KERNEL_DIR}"
prepare_initramfs
