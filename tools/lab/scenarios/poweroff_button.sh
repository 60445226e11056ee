# SPDX-License-Identifier: Apache-2.0
# Scenario poweroff_button: graceful shutdown through the ACPI power button.
#  1. The inner Linux loads the button driver (it binds to microvm's PNP0C0C
#     device, notified by the Generic Event Device) and evdev, and runs
#     busybox acpid, whose power-button action logs a line and powers off.
#     The agent sends microvm SIGTERM: the inner console shows the button
#     press reaching acpid and the kernel's orderly power-off, and microvm
#     exits 0.
#  2. The same Linux without acpid ignores the button: microvm stops it
#     after --shutdown_timeout 5 and exits 4, saying so.
. "${LAB}/scenarios/_vfio_fault.sh"  # microvm_left

# sigterm_when TEXT: in the background, sends SIGTERM to the running
# microvm once the inner console shows TEXT.
sigterm_when() {
  (
    console_wait "$1" || exit 0  # never came: the scenario says why
    sleep 1
    for p in $(microvm_left); do kill -TERM "${p}"; done
  ) &
  SIGNALLER=$!
}

run_scenario() {
  : >"${WORK}/console.log"
  sigterm_when 'LAB-INNER: acpid waits for the power button'
  INNER_EXTRA_ARGS="--shutdown_timeout 30"
  # acpid watches the /dev/input/event* nodes it finds when it starts: it
  # starts once the button's node is there (-d: in the foreground, logging
  # each event to the console).
  inner_boot --mem 256 --timeout 150 --end reboot --cmd '
insmod /lib/modules/evdev.ko && insmod /lib/modules/button.ko || exit 1
ev=""
for i in $(seq 100); do
  ev=$(sed -n "/Power Button/,/^\$/s/.*Handlers=.*\(event[0-9]*\).*/\1/p" /proc/bus/input/devices)
  [ -n "${ev}" ] && [ -e "/dev/input/${ev}" ] && break
  sleep 0.1
done
echo "LAB-INNER: button driver bound to $(ls /sys/bus/acpi/drivers/button | grep PNP0C0C), input /dev/input/${ev}"
mkdir -p /etc/acpi/PWRF
printf "#!/bin/sh\necho LAB-INNER: power button pressed: acpid powers off\nsync\nexec poweroff -f\n" >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -d -c /etc/acpi 2>&1 &
sleep 1
echo LAB-INNER: acpid waits for the power button
sleep 120'
  INNER_EXTRA_ARGS=""
  wait "${SIGNALLER}"
  inner_check_booted poweroff_button || return
  if [ "${INNER_STATUS}" != 0 ] ||
     ! grep -q "microvm: SIGTERM: pressed the guest's ACPI power button" "${INNER_LOG}" ||
     ! grep -q 'LAB-INNER: power button pressed: acpid powers off' "${INNER_LOG}" ||
     ! grep -q 'reboot: Power down' "${INNER_LOG}"; then
    lab_result poweroff_button FAIL "with acpid: microvm status ${INNER_STATUS} (want 0); console: $(grep -E 'LAB-INNER|microvm:|reboot|button' "${INNER_LOG}" | tail -n 8 | tr '\n' ' ')"
    return
  fi

  : >"${WORK}/console.log"
  sigterm_when 'LAB-INNER: nobody listens to the power button'
  INNER_EXTRA_ARGS="--shutdown_timeout 5"
  inner_boot --mem 256 --timeout 150 --end reboot --cmd 'echo LAB-INNER: nobody listens to the power button; sleep 120'
  INNER_EXTRA_ARGS=""
  wait "${SIGNALLER}"
  inner_check_booted poweroff_button || return
  if [ "${INNER_STATUS}" != 4 ] ||
     ! grep -q 'microvm: the guest did not power off within 5 s of the power button' "${INNER_LOG}" ||
     [ -n "$(microvm_left)" ]; then
    lab_result poweroff_button FAIL "without acpid: microvm status ${INNER_STATUS} (want 4); console: $(grep -E 'LAB-INNER|microvm:' "${INNER_LOG}" | tail -n 5 | tr '\n' ' ')"
    return
  fi
  lab_result poweroff_button PASS "SIGTERM pressed the power button: acpid powered the inner Linux off (microvm status 0); with nobody listening, microvm stopped it after --shutdown_timeout 5 (status 4)"
}
