# SPDX-License-Identifier: Apache-2.0
# Helpers for the host-side fault scenarios (vfio_request_edu,
# vfio_request_nvme, vfio_sigkill): the edu tiny guest held busy in the
# background, and the host's unbind of a device from vfio-pci, timed.
. "${LAB}/scenarios/vfio_edu.sh"

# hold_edu LOG: starts microvm with the edu guest in hold mode (DMA and MSI
# every 10 ms after its checks) in the background; sets HOLD_PID. Returns 1
# unless the guest reached its hold loop within 120 s.
hold_edu() {
  bdf=$(edu_bdf)
  [ -n "${bdf}" ] || return 1
  "${MICROVM}" --kernel "${LAB_GUESTS:-/lab/guests}/edu.elf" --mem 64 --vfio "${bdf}" \
    --cmdline edu.hold </dev/null >"$1" 2>&1 &
  HOLD_PID=$!
  i=0
  while [ "${i}" -lt 1200 ]; do
    grep -q '^edu: holding the device' "$1" && return 0
    kill -0 "${HOLD_PID}" 2>/dev/null || return 1
    sleep 0.1
    i=$((i + 1))
  done
  # Never reached: do not leave it holding the edu for the next scenario.
  kill -KILL "${HOLD_PID}" 2>/dev/null
  wait "${HOLD_PID}"
  return 1
}

# unbind_timed BDF: the host takes the device back (unbind from vfio-pci);
# sets UNBIND_S (seconds it took) and UNBIND_OK (1 when the write returned
# within 30 s and the device has no driver now). A write still blocked then
# (the kernel waits for the device's user to let go) is freed by killing
# every microvm, so the scenario fails instead of hanging.
unbind_timed() {
  t0=$(now)
  (echo "$1" >/sys/bus/pci/drivers/vfio-pci/unbind) &
  _writer=$!
  i=0
  while [ "${i}" -lt 300 ] && kill -0 "${_writer}" 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
  done
  UNBIND_S=$(elapsed "${t0}" "$(now)")
  UNBIND_OK=0
  if kill -0 "${_writer}" 2>/dev/null; then
    echo "LAB-AGENT: the unbind of $1 still blocks after ${UNBIND_S} s: killing microvm"
    for p in $(microvm_left); do kill -KILL "${p}"; done
    wait "${_writer}"
    return
  fi
  wait "${_writer}"
  [ ! -e "/sys/bus/pci/devices/$1/driver" ] && UNBIND_OK=1
}

# microvm_left: pids of microvm processes still alive (the lab runs no other).
microvm_left() {
  for p in /proc/[0-9]*; do
    [ "$(cat "${p}/comm" 2>/dev/null)" = microvm ] && echo "${p#/proc/}"
  done
}

# rebind BDF: back to vfio-pci (driver_override still says so) for the
# scenarios after this one.
rebind() { echo "$1" >/sys/bus/pci/drivers/vfio-pci/bind 2>/dev/null; }
