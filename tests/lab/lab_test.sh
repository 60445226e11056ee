#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# One lab scenario as a Bazel test: runs tools/lab/lab.sh from the runfiles
# tree (the working directory of a Bazel test) with the microvm built here.
# Passes only when the scenario reported LAB-RESULT ... PASS (lab.sh's exit
# status). Usage: lab_test.sh MICROVM SCENARIO
set -euo pipefail
[[ $# == 2 ]] || { echo "usage: lab_test.sh MICROVM SCENARIO" >&2; exit 2; }
exec bash tools/lab/lab.sh --microvm "$1" "$2"
