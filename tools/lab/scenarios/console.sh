# SPDX-License-Identifier: Apache-2.0
# Scenario console: a command's output comes back whole through the inner
# serial console: a token made here, 300 numbered lines, and the command's
# exit status.
run_scenario() {
  token="lab-token-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  inner_boot --cpus 1 --cmd "echo ${token}; seq 1 300; exit 7"
  inner_check_booted console || return
  lines=$(grep -c '^[0-9][0-9]*$' "${INNER_OUT}")
  sum=$(grep '^[0-9][0-9]*$' "${INNER_OUT}" | awk '{ s += $1 } END { print s + 0 }')
  if ! grep -qx "${token}" "${INNER_OUT}"; then
    lab_result console FAIL "token ${token} not in the inner output"
  elif [ "${lines}" != 300 ] || [ "${sum}" != 45150 ]; then
    lab_result console FAIL "expected 300 lines summing to 45150, got ${lines} lines summing to ${sum}"
  elif [ "${INNER_CMD_STATUS}" != 7 ]; then
    lab_result console FAIL "command status '${INNER_CMD_STATUS}', expected 7"
  else
    lab_result console PASS "token and 300 lines intact, status 7 carried back"
  fi
}
