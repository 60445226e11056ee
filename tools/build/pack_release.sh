#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Packs the release archive (genrule //:release_archive; tools/release.sh is
# the command users and maintainers run):
#   microvm-VERSION-x86_64/microvm      the fully static release binary
#   microvm-VERSION-x86_64/README.md, SECURITY.md, LICENSE, NOTICE
# as a gzip'd tar with fixed owners, order and times (the commit's time from
# Bazel's stable status), so one commit packs the same bytes; and its SHA-256
# file in sha256sum's format, naming the archive as tools/release.sh calls it.
#
# Usage: pack_release.sh OUT_TAR OUT_SHA256 VERSION_FILE STABLE_STATUS BINARY DOC...
set -euo pipefail
die() { echo "pack_release.sh: error: $*" >&2; exit 1; }
(( $# >= 6 )) || die "usage: pack_release.sh OUT_TAR OUT_SHA256 VERSION_FILE STABLE_STATUS BINARY DOC..."
out_tar="$1" out_sha="$2" version_file="$3" status="$4" binary="$5"
shift 5

version=$(tr -d '[:space:]' <"${version_file}")
[[ -n ${version} ]] || die "${version_file} is empty"
name="microvm-${version}-x86_64"
mtime=$(sed -n 's/^STABLE_MICROVM_COMMIT_TIME \([0-9]\{1,\}\)$/\1/p' "${status}")
mtime="${mtime:-0}"

stage=$(mktemp -d "$(dirname "${out_tar}")/pack.XXXXXX")
trap 'rm -rf "${stage}"' EXIT
install -d -m 0755 "${stage}/${name}"
install -m 0755 "${binary}" "${stage}/${name}/microvm"
for doc in "$@"; do install -m 0644 "${doc}" "${stage}/${name}/$(basename "${doc}")"; done
tar --sort=name --mtime="@${mtime}" --owner=0 --group=0 --numeric-owner \
  --format=gnu -C "${stage}" -cf - "${name}" | gzip -9 -n >"${out_tar}"
sum=$(sha256sum "${out_tar}" | cut -d' ' -f1)
echo "${sum}  ${name}.tar.gz" >"${out_sha}"
