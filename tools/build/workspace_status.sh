#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bazel's workspace status command (.bazelrc): the commit that
# `microvm --version` names (vmm/BUILD.bazel, genrule build_info). Prints
# nothing outside a git checkout (e.g. an unpacked release archive): the
# binary then says the commit is unknown. "-dirty" marks uncommitted changes
# to tracked files.
# safe.directory: Bazel may run this as another user than the checkout's
# owner (git then refuses the repository). The checkout must be the
# workspace itself, not a repository the source tree happens to sit in.
git_() { git -c safe.directory="${PWD}" "$@" 2>/dev/null; }
[[ $(git_ rev-parse --show-toplevel) == "$(pwd -P)" ]] || exit 0
commit=$(git_ rev-parse --short=12 HEAD) || exit 0
git_ update-index -q --refresh >/dev/null
if ! git_ diff-index --quiet HEAD --; then
  commit+="-dirty"
fi
echo "STABLE_MICROVM_COMMIT ${commit}"
# The release archive's file times (tools/build/pack_release.sh): the commit's
# time, so the same commit packs the same bytes.
echo "STABLE_MICROVM_COMMIT_TIME $(git_ log -1 --format=%ct)"
