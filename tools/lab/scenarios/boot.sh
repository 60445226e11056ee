# SPDX-License-Identifier: Apache-2.0
# Scenario boot: the inner Linux boots to its init under microvm, prints
# uname and /proc/cmdline through the console, and microvm ends (reboot -f:
# i8042 reset, status 0). Reports the time from microvm's start to the inner
# init: by microvm's boot timer (the init writes marker 123, microvm times
# it: the number to compare with Firecracker's), as seen by the agent on the
# console (later by the serial console's latency), and the inner kernel's
# own uptime there.
# Sourced by tools/lab/agent.sh, which provides inner_boot & co.
run_scenario() {
  inner_boot --cpus 1 --cmd 'uname -a; cat /proc/cmdline'
  inner_check_booted boot || return
  if [ "${INNER_CMD_STATUS}" != 0 ]; then
    lab_result boot FAIL "inner command status '${INNER_CMD_STATUS}' (empty: never finished)"
  elif ! grep -q '^Linux ' "${INNER_OUT}" || ! grep -q 'lab.end=reboot' "${INNER_OUT}"; then
    lab_result boot FAIL "no uname/cmdline in the inner output: $(head -n 2 "${INNER_OUT}" | tr '\n' ' ')"
  elif [ -z "${INNER_BOOT_TIMER_MS}" ] || [ -z "${INNER_VCPUS_MS}" ]; then
    lab_result boot FAIL "microvm's boot timer reported no vCPU start or init marker (--boot_timer; devmem 0xf0000000 in the inner init)"
  elif [ "${INNER_STATUS}" != 0 ]; then
    lab_result boot FAIL "inner init reached in ${INNER_INIT_S} s but microvm exited ${INNER_STATUS}"
  else
    # For bench/run.sh's report: start-up as microvm's boot timer saw it.
    echo "LAB-BENCH boot_timer vcpus_ms=${INNER_VCPUS_MS} init_ms=${INNER_BOOT_TIMER_MS}" \
      "kernel_uptime_at_init_s=${INNER_KERNEL_S} microvm_wall_s=${INNER_WALL_S}"
    lab_result boot PASS "boot_timer_vcpus_ms=${INNER_VCPUS_MS} boot_timer_init_ms=${INNER_BOOT_TIMER_MS} inner_init_s=${INNER_INIT_S} inner_kernel_uptime_s=${INNER_KERNEL_S} microvm_wall_s=${INNER_WALL_S} $(grep -m1 '^Linux ' "${INNER_OUT}" | cut -d' ' -f3)"
  fi
}
