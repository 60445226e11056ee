#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Takes the uncompressed kernel (an ELF vmlinux) out of a bzImage: the setup
# header says where its compressed payload is (boot.rst: setup_sects at
# 0x1f1, payload_offset at 0x248 and payload_length at 0x24c, protocol
# 2.08+), the payload's first bytes say how it was compressed.
#
#   tools/lab/extract_vmlinux.sh BZIMAGE OUT
#
# Writes OUT (an ELF64 executable microvm boots with --kernel OUT, the
# 64-bit entry at its e_entry) or fails with one line naming what was wrong.
# Needs the decompressor for the kernel's compression (gzip, xz, zstd, lz4,
# bzip2 or lzma; tools/setup.sh installs them).
set -euo pipefail

readonly ME=extract_vmlinux.sh
die() { echo "${ME}: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: ${ME} BZIMAGE OUT"
image=$1 out=$2
[[ -f ${image} && -r ${image} ]] || die "no readable kernel ${image}"

# Little-endian unsigned of LENGTH bytes at OFFSET.
le() {
  od -A n -t u1 -j "$2" -N "$3" "$1" |
    awk '{ for (i = 1; i <= NF; i++) v[n++] = $i }
         END { x = 0; for (i = n - 1; i >= 0; i--) x = x * 256 + v[i]; printf "%d\n", x }'
}

[[ $(od -A n -c -j 0x202 -N 4 "${image}" | tr -d ' ') == HdrS ]] ||
  die "${image} is not a bzImage (no HdrS setup header at 0x202)"
version=$(le "${image}" $((0x206)) 2)
((version >= 0x208)) || die "${image}: boot protocol $(printf '%#x' "${version}") has no payload fields (2.08+ needed)"
setup_sects=$(le "${image}" $((0x1f1)) 1)
((setup_sects > 0)) || setup_sects=4
offset=$(( (setup_sects + 1) * 512 + $(le "${image}" $((0x248)) 4) ))
length=$(le "${image}" $((0x24c)) 4)
size=$(stat -c %s "${image}")
((length > 0 && offset + length <= size)) ||
  die "${image}: payload at ${offset}+${length} is outside the file (${size} bytes)"

magic=$(od -A n -t x1 -j "${offset}" -N 6 "${image}" | tr -d ' \n')
case "${magic}" in
  1f8b*) tool=(gzip -dc) ;;
  fd377a585a00) tool=(xz -dc) ;;
  28b52ffd*) tool=(zstd -dcq) ;;
  02214c18*) tool=(lz4 -dc) ;;
  425a68*) tool=(bzip2 -dc) ;;
  5d0000*) tool=(xz -dc --format=lzma) ;;
  *) die "${image}: payload compressed with an unknown method (magic ${magic})" ;;
esac
command -v "${tool[0]}" >/dev/null ||
  die "${image} is ${tool[0]}-compressed and there is no ${tool[0]}: apt-get install ${tool[0]}"

tmp=$(mktemp "${out}.XXXXXX")
trap 'rm -f "${tmp}"' EXIT
# The kernel's build appends the decompressed size (32 bits, little-endian)
# to the compressed stream, whatever the method; decompressors warn about
# those bytes, and some exit non-zero for them (lz4): the size and ELF
# checks below are what tell a whole payload.
tail -c +$((offset + 1)) "${image}" | head -c "${length}" |
  "${tool[@]}" >"${tmp}" 2>/dev/null || true
want=$(le "${image}" $((offset + length - 4)) 4)
got=$(stat -c %s "${tmp}")
((got == want)) ||
  die "${image}: the payload decompressed (${tool[0]}) to ${got} bytes, not the ${want} its build recorded (a damaged kernel, or no space left for ${out}?)"
[[ $(od -A n -t x1 -N 5 "${tmp}" | tr -d ' \n') == 7f454c4602 ]] ||
  die "${image}: the payload did not decompress (${tool[0]}) to an ELF64 image"
mv "${tmp}" "${out}"
trap - EXIT
