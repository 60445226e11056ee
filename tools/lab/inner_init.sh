#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# PID 1 of the lab's innermost guest: the Linux that microvm boots inside the
# lab machine. Packed by tools/lab/make_inner_initramfs.sh; a change here
# makes a new cached initramfs (the cache key is a hash of the contents).
#
# Everything goes to /dev/console (microvm's serial port, ttyS0), so the agent
# in the lab machine reads it from microvm's stdout. Marker lines, each alone
# on a line and starting "LAB-INNER: ":
#   init reached uptime=<s>      this script started (<s>: the guest kernel's
#                                /proc/uptime, i.e. kernel boot time)
#   nproc=<n>                    online CPUs as this kernel sees them
#   output begin                 the command's stdout+stderr follow, raw
#   output end status=<n>        the command finished with status <n>
#   ending with <how>            about to poweroff/reboot/halt
#
# Kernel command line (read from /proc/cmdline; dotted names are not passed
# to init as arguments or environment, so they do not disturb anything):
#   lab.cmd=<base64>     shell command to run (base64: no quoting problems on
#                        the kernel command line); default: none
#   lab.end=poweroff|reboot|halt|shell   how to end (default reboot: microvm
#                        ends with status 0 on an i8042 reset)

export PATH=/bin HOME=/ TERM=dumb
mount -t proc proc /proc
read -r up _ </proc/uptime
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# microvm's boot timer (--boot_timer; devices/boot_timer.h): 123 marks init,
# as in Firecracker. Without the flag the write goes nowhere.
devmem 0xf0000000 8 123 2>/dev/null
mount -t tmpfs tmpfs /tmp
echo "LAB-INNER: init reached uptime=${up}"
echo "LAB-INNER: nproc=$(nproc)"

cmd="" end=reboot
for word in $(cat /proc/cmdline); do
  case "${word}" in
    lab.cmd=*) cmd="${word#lab.cmd=}" ;;
    lab.end=*) end="${word#lab.end=}" ;;
  esac
done

if [ -n "${cmd}" ]; then
  echo "LAB-INNER: output begin"
  if script=$(echo "${cmd}" | base64 -d 2>/dev/null); then
    sh -c "${script}" </dev/null 2>&1
    status=$?
  else
    echo "lab.cmd is not valid base64"
    status=126
  fi
  echo "LAB-INNER: output end status=${status}"
fi

echo "LAB-INNER: ending with ${end}"
sync
case "${end}" in
  poweroff) poweroff -f ;;
  halt) halt -f ;;
  shell) exec setsid cttyhack sh ;;
  *) reboot -f ;;
esac
# poweroff/reboot -f only return if the machine did not stop.
echo "LAB-INNER: ${end} -f returned; still running"
while :; do sleep 3600; done
