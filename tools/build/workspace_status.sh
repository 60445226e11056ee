#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bazel's workspace status command (.bazelrc): the commit that
# `microvm --version` names (vmm/BUILD.bazel, genrule build_info). Prints
# nothing outside a git checkout (e.g. an unpacked release archive): the
# binary then says the commit is unknown. "-dirty" marks uncommitted changes
# to tracked files.
commit=$(git rev-parse --short=12 HEAD 2>/dev/null) || exit 0
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  commit+="-dirty"
fi
echo "STABLE_MICROVM_COMMIT ${commit}"
# The release archive's file times (tools/build/pack_release.sh): the commit's
# time, so the same commit packs the same bytes.
echo "STABLE_MICROVM_COMMIT_TIME $(git log -1 --format=%ct 2>/dev/null)"
