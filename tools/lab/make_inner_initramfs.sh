#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the lab's innermost guest initramfs (busybox-static + inner_init.sh
# as /init + the kernel modules INNER_MODULES from the lab's kernel in
# /lib/modules/, gzip-compressed newc cpio) and prints its path. Cached under
# $MICROVM_CACHE/lab/ (default /var/tmp/microvm-cache) keyed by a hash of
# what goes in, so it is built once per change; if the cache is not writable
# (e.g. Bazel's sandbox) it is built into OUT_DIR instead.
#
# Usage: make_inner_initramfs.sh [OUT_DIR]   (OUT_DIR: fallback directory)
set -euo pipefail

readonly ME="make-inner-initramfs"
readonly CACHE="${MICROVM_CACHE:-/var/tmp/microvm-cache}"
SELF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SELF_DIR
readonly BUSYBOX=/bin/busybox
readonly INIT="${SELF_DIR}/inner_init.sh"
readonly KERNEL_DIR="${CACHE}/kernel"
# Modules the scenarios load with insmod (busybox insmod cannot read .ko.xz,
# so compressed ones are unpacked): the ACPI power button driver and the
# input event device busybox acpid reads it from (scenario poweroff_button).
readonly INNER_MODULES=(drivers/acpi/button drivers/input/evdev)

die() { echo "${ME}: error: $*" >&2; exit 1; }

[[ -x ${BUSYBOX} ]] || die "no ${BUSYBOX}; run tools/setup.sh (busybox-static)"
[[ -f ${INIT} ]] || die "no ${INIT}"
for tool in cpio gzip sha256sum; do
  command -v "${tool}" >/dev/null || die "${tool} not found; run tools/setup.sh"
done

[[ -s ${KERNEL_DIR}/version ]] || die "no kernel in ${KERNEL_DIR}; run tools/setup.sh"
moddir="${KERNEL_DIR}/root/lib/modules/$(cat "${KERNEL_DIR}/version")/kernel"
module_files=()
for m in "${INNER_MODULES[@]}"; do
  if [[ -f ${moddir}/${m}.ko ]]; then
    module_files+=("${moddir}/${m}.ko")
  elif [[ -f ${moddir}/${m}.ko.xz ]]; then
    module_files+=("${moddir}/${m}.ko.xz")
  else
    die "the lab's kernel has no module ${m}.ko or .ko.xz under ${moddir}"
  fi
done

# Content hash of everything that goes in (busybox by content, not mtime).
key=$( { sha256sum <"${BUSYBOX}"; cat "${INIT}"; cat "${module_files[@]}"; } |
  sha256sum | cut -c1-16)
name="inner-${key}.cpio.gz"

build() {  # $1: output file
  root=$(mktemp -d "${TMPDIR:-/tmp}/lab-inner.XXXXXX")
  mkdir -p "${root}"/{bin,proc,sys,dev,tmp,root,etc,lib/modules}
  cp "${BUSYBOX}" "${root}/bin/busybox"
  local f
  for f in "${module_files[@]}"; do
    case "${f}" in
      *.xz) xz -dc "${f}" >"${root}/lib/modules/$(basename "${f}" .xz)" ;;
      *) cp "${f}" "${root}/lib/modules/" ;;
    esac
  done
  local applet
  for applet in $("${BUSYBOX}" --list); do
    [[ ${applet} == busybox ]] || ln -s busybox "${root}/bin/${applet}"
  done
  ln -s bin "${root}/sbin"
  install -m 0755 "${INIT}" "${root}/init"
  (cd "${root}" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -9 -n >"$1"
  rm -rf "${root}"
  root=""
}
root=""
cleanup() { [[ -z ${root} ]] || rm -rf "${root}"; rm -f "${out:-}.tmp.$$"; }
trap cleanup EXIT

if mkdir -p "${CACHE}/lab" 2>/dev/null && [[ -w ${CACHE}/lab ]]; then
  out="${CACHE}/lab/${name}"
  if [[ ! -s ${out} ]]; then
    find "${CACHE}/lab" -name 'inner-*.cpio.gz' -mtime +7 -delete 2>/dev/null || true
    # Build beside the final name and rename: concurrent runs never see half a file.
    build "${out}.tmp.$$"
    mv -f "${out}.tmp.$$" "${out}"
  fi
else
  dir="${1:-}"
  [[ -n ${dir} && -d ${dir} ]] ||
    die "cache ${CACHE}/lab is not writable and no fallback directory given"
  out="${dir}/${name}"
  [[ -s ${out} ]] || build "${out}"
fi
echo "${out}"
