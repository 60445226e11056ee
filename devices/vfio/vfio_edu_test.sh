#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs vfio_edu_test_bin inside the nested machine (tests/nested/nested_run.sh)
# with an emulated Intel IOMMU and QEMU's edu device behind a PCIe root port
# (so vfio-pci can reset it with a secondary bus reset), and the VFIO
# modules loaded. The test binds edu to vfio-pci itself.
#
# Usage: vfio_edu_test.sh NESTED_RUN TEST_BINARY [GTEST_ARG]...
set -euo pipefail

nested_run=$1 binary=$2
shift 2
work=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/vfio-edu.XXXXXX")
trap 'rm -rf "${work}"' EXIT

# Bazel's timeout less a margin, so QEMU is stopped (and says so) first.
timeout=280
if [[ ${TEST_TIMEOUT:-} =~ ^[0-9]+$ ]] && (( TEST_TIMEOUT > 60 )); then
  timeout=$(( TEST_TIMEOUT - 20 ))
fi

status=0
"${nested_run}" \
  --machine q35,kernel-irqchip=split \
  --qemu-arg -device --qemu-arg intel-iommu,intremap=on,caching-mode=on \
  --qemu-arg -device --qemu-arg pcie-root-port,id=vfio_rp0,chassis=1,slot=1 \
  --qemu-arg -device --qemu-arg edu,bus=vfio_rp0 \
  --append "intel_iommu=on iommu=pt" \
  --module drivers/vfio/vfio \
  --module drivers/vfio/vfio_iommu_type1 \
  --module drivers/vfio/vfio_virqfd \
  --module drivers/vfio/pci/vfio-pci-core \
  --module drivers/vfio/pci/vfio-pci \
  --file "/bin/vfio_edu_test=${binary}" \
  --libs-for "${binary}" \
  --env "GTEST_OUTPUT=xml:/tmp/test.xml" \
  --env "TEST_TMPDIR=/tmp" \
  --fetch "/tmp/test.xml=${work}/test.xml" \
  --timeout "${timeout}" \
  -- /bin/vfio_edu_test "$@" || status=$?

if [[ -s ${work}/test.xml && -n ${XML_OUTPUT_FILE:-} ]]; then
  cp "${work}/test.xml" "${XML_OUTPUT_FILE}"
fi
exit "${status}"
