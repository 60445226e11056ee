#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# PID 1 of the nested test machine (busybox sh). Packed into the base
# initramfs by nested_run.sh; any change here rebuilds that cached base.
#
# Channels (QEMU writes each serial port to its own host file, so kernel log
# noise on the console never mixes with what the host parses):
#   ttyS0  kernel console (and this script's own error messages)
#   ttyS1  the command's stdout and stderr, raw
#   ttyS2  control lines for nested_run.sh, each starting "mvm-ctl: ":
#            ready                     modules loaded, command about to start
#            error <text>              set-up failed, command not run
#            file <n> / <base64> / end <n>   contents of the n-th fetched file
#            exit <status>             the command's exit status (always last)
#
# The job (per-test cpio, laid over this base) provides:
#   /job/run.sh   shell script that runs the command (cwd, environment, exec)
#   /job/fetch    lines "<n> <guest path>" of files to send back afterwards
# Base configuration: /etc/microvm/modules, lines "<file.ko> [params]" to
# insmod in order.

export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
ip link set lo up 2>/dev/null

# Raw: no \n -> \r\n translation, no echo. Keep both ports open for the whole
# run; closing them at the end waits until the UART has sent everything.
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
exec 3>/dev/ttyS2 4>/dev/ttyS1

ctl() { echo "mvm-ctl: $*" >&3; }

finish() {
  ctl "exit $1"
  exec 3>&- 4>&-
  sync
  poweroff -f
}

if [ -f /etc/microvm/modules ]; then
  while read -r mod params; do
    [ -n "${mod}" ] || continue
    # shellcheck disable=SC2086 # params are separate words on purpose.
    if ! err=$(insmod "/lib/modules/${mod}" ${params} 2>&1); then
      ctl "error insmod ${mod} ${params} failed: ${err}"
      finish 125
    fi
  done </etc/microvm/modules
fi

if [ ! -f /job/run.sh ]; then
  ctl "error no /job/run.sh in the initramfs"
  finish 125
fi

ctl ready
sh /job/run.sh >&4 2>&4 </dev/null
status=$?

if [ -f /job/fetch ]; then
  while read -r n path; do
    [ -f "${path}" ] || continue
    ctl "file ${n}"
    base64 "${path}" >&3
    ctl "end ${n}"
  done </job/fetch
fi
finish "${status}"
