# SPDX-License-Identifier: Apache-2.0
# Scenario pci: the inner Linux finds microvm's PCI bus as on hardware: the
# host bridge at 00:00.0 and microvm's emulated test device (1234:7e57,
# --pci_test_device) at 00:01.0 with its BARs inside the ACPI windows and
# its INTx routed (irq != 0), both listed from sysfs like lspci would, and
# the PCI/ACPI part of the kernel log has no warnings or errors.
run_scenario() {
  INNER_EXTRA_ARGS="--pci_test_device"
  inner_boot --cpus 1 --cmd 'for d in /sys/bus/pci/devices/*; do echo "pci $(basename $d) $(cat $d/vendor):$(cat $d/device) class=$(cat $d/class) irq=$(cat $d/irq)"; head -n 7 $d/resource | grep -v "0x0000000000000000 0x0000000000000000" | sed "s/^/res /"; done; dmesg | grep -iE "pci|acpi" | grep -iE "warn|error|fail|bug|not routed|conflict" | grep -v "pci=nocrs" | sed "s/^/bad /"; true'
  INNER_EXTRA_ARGS=""
  inner_check_booted pci || return
  if ! grep -q '^pci 0000:00:00.0 0x1b36:0x0008 class=0x060000' "${INNER_OUT}"; then
    lab_result pci FAIL "host bridge 00:00.0 (1b36:0008) not listed: $(head -c 300 "${INNER_OUT}" | tr '\n' ' ')"
  elif ! grep -q '^pci 0000:00:01.0 0x1234:0x7e57 class=0xff0000 irq=[1-9]' "${INNER_OUT}"; then
    lab_result pci FAIL "test device 00:01.0 (1234:7e57) missing or without an IRQ: $(grep '^pci' "${INNER_OUT}" | tr '\n' ' ')"
  elif [ "$(grep -c '^res ' "${INNER_OUT}")" -lt 4 ]; then
    lab_result pci FAIL "test device BARs not assigned: $(grep '^res' "${INNER_OUT}" | tr '\n' ' ')"
  elif grep -q '^bad ' "${INNER_OUT}"; then
    lab_result pci FAIL "kernel log: $(grep '^bad ' "${INNER_OUT}" | head -n 3 | tr '\n' ' ')"
  else
    lab_result pci PASS "$(grep -c '^pci ' "${INNER_OUT}") functions, test device irq $(grep '^pci 0000:00:01.0' "${INNER_OUT}" | sed 's/.*irq=//')"
  fi
}
