#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds the release: the fully static microvm in the release build
# (--config=release: -c opt) packed with README.md, SECURITY.md, LICENSE and
# NOTICE as dist/microvm-VERSION-x86_64.tar.gz, and its SHA-256 file
# dist/microvm-VERSION-x86_64.tar.gz.sha256 (check with `sha256sum -c`).
# The archive is Bazel's //:release_archive (tools/build/pack_release.sh);
# //tests/release:release_test unpacks it and boots a guest with it. Refuses
# a tree with uncommitted changes unless --allow-dirty: a release names its
# commit (`microvm --version`).
#
# Usage: tools/release.sh [--out DIR] [--allow-dirty]
# Environment: BAZEL_STARTUP_OPTS (e.g. --output_base=...).
set -euo pipefail

readonly ME="release.sh"
die() { echo "${ME}: error: $*" >&2; exit 1; }
cd "$(dirname "$0")/.."

out="dist" allow_dirty=0
while (( $# )); do
  case "$1" in
    --out) (( $# >= 2 )) || die "--out wants a directory"; out="$2"; shift 2 ;;
    --allow-dirty) allow_dirty=1; shift ;;
    -h|--help) sed -n '3,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done

git_() { git -c safe.directory="${PWD}" "$@"; }
head=$(git_ rev-parse --short=12 HEAD 2>/dev/null) ||
  die "not a git checkout with a commit: a release names its commit (microvm --version)"
git_ update-index -q --refresh >/dev/null 2>&1 || true
if ((allow_dirty == 0)) && ! git_ diff-index --quiet HEAD --; then
  die "uncommitted changes: commit them (a release names its commit) or pass --allow-dirty"
fi

# shellcheck disable=SC2206 # startup options are separate words on purpose.
bazel_cmd=(bazel ${BAZEL_STARTUP_OPTS:-})
"${bazel_cmd[@]}" build --config=release //:release_archive ||
  die "bazel build --config=release //:release_archive failed"
bin=$("${bazel_cmd[@]}" info --config=release bazel-bin 2>/dev/null) || die "bazel info bazel-bin failed"

version=$(tr -d '[:space:]' <VERSION)
name="microvm-${version}-x86_64.tar.gz"
mkdir -p "${out}"
install -m 0644 "${bin}/microvm-x86_64.tar.gz" "${out}/${name}"
install -m 0644 "${bin}/microvm-x86_64.tar.gz.sha256" "${out}/${name}.sha256"
(cd "${out}" && sha256sum --quiet -c "${name}.sha256") || die "${out}/${name} does not match its SHA-256 file"

# The packed binary must be the release build and fully static.
check=$(mktemp -d)
trap 'rm -rf "${check}"' EXIT
tar -xzf "${out}/${name}" -C "${check}"
binary="${check}/microvm-${version}-x86_64/microvm"
version_text=$("${binary}" --version) || die "the packed binary does not run"
grep -q '^build: opt,' <<<"${version_text}" || die "the packed binary is not the release build: ${version_text//$'\n'/ }"
grep -qx "commit: ${head}\(-dirty\)\{0,1\}" <<<"${version_text}" ||
  die "the packed binary names another commit than HEAD ${head}: ${version_text//$'\n'/ }"
headers=$(LC_ALL=C readelf -l "${binary}") || die "readelf cannot read the packed binary"
if grep -q 'INTERP' <<<"${headers}"; then die "the packed binary is not static"; fi

echo "${ME}: ${out}/${name} ($(du -k "${out}/${name}" | cut -f1) KiB)"
echo "${ME}: ${out}/${name}.sha256: $(cat "${out}/${name}.sha256")"
"${binary}" --version | sed "s/^/${ME}:   /"
