#!/bin/bash
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
