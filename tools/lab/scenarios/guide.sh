# SPDX-License-Identifier: Apache-2.0
# Scenario guide: README.md's "Pass through a device of your own", followed
# literally on the lab's nvme (1b36:0010), as a user would on their own
# machine: the commands are read out of /lab/README.md (the blocks after each
# "<!-- guide-step: NAME -->") and run one line at a time with DEV set to the
# nvme's address; a failing line fails the scenario.
#   start   the device on its own driver, as on a user's machine: the lab
#           bound it to vfio-pci, so step "return" gives it to nvme first
#           (the guide's last step, which must work for this anyway);
#   iommu   at least one IOMMU group;
#   group   the nvme's group holds the nvme alone;
#   bind    from nvme to vfio-pci; /dev/vfio/$GROUP appears;
#   run     the guide's microvm command; the inner Linux finds and reads the
#           disk (its nvme driver binds, /dev/nvme0n1 reads);
#   return  back to the host's nvme driver (the step prints "nvme"), then the
#           scenario binds it to vfio-pci again for the scenarios after it.
# Where the lab differs from a Debian host, and what stands in:
#   - modprobe: the lab loaded the VFIO modules with insmod at start (busybox
#     has no modules.dep); here it checks the module is loaded.
#   - step "user" is not run: the lab runs microvm as root and busybox has no
#     usermod (running unprivileged is the sandbox issue's lab scenario).
#   - step 7's busybox initramfs ends in an interactive shell; KERNEL and
#     INITRD are the lab's inner kernel and initramfs, and `microvm` runs the
#     guide's exact arguments through agent.sh's inner_boot, which adds the
#     inner init's command (read the disk) on the kernel command line.
guide_step() {  # NAME: the step's command lines
  awk -v want="$1" '
    /^<!-- guide-step: / { name = $3; inblock = 0; next }
    name == want && /^    / { print substr($0, 5); inblock = 1; next }
    inblock || (name != "" && $0 != "") { if (inblock && name == want) exit; name = ""; inblock = 0 }
  ' "${LAB}/README.md"
}

# Runs step $1 line by line in this shell (its variables carry over, as in a
# user's terminal); output to ${WORK}/guide-$1.out. Fails on the first line
# that fails.
run_step() {
  out="${WORK}/guide-$1.out"
  : >"${out}"
  guide_step "$1" >"${WORK}/guide-$1.sh"
  [ -s "${WORK}/guide-$1.sh" ] || { GUIDE_FAIL="README.md has no guide-step $1"; return 1; }
  while IFS= read -r line; do
    echo "LAB-AGENT: guide $1: ${line}"
    echo "\$ ${line}" >>"${out}"
    if ! eval "${line}" >>"${out}" 2>&1 </dev/null; then
      GUIDE_FAIL="step $1: '${line}' failed: $(tail -n 3 "${out}" | tr '\n' ' ')"
      sed 's/^/LAB-AGENT: guide | /' "${out}"
      return 1
    fi
  done <"${WORK}/guide-$1.sh"
  sed 's/^/LAB-AGENT: guide | /' "${out}"
}

modprobe() { grep -q "^$(echo "$1" | tr - _) " /proc/modules; }

microvm() {
  INNER_EXTRA_ARGS="$*"
  inner_boot --timeout 150 --cmd 'ls /sys/bus/pci/drivers/nvme/ 2>&1; ls /dev/nvme* 2>&1; dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=16 2>&1'
  INNER_EXTRA_ARGS=""
  inner_check_booted guide || return 1
  grep -q nvme0n1 "${INNER_OUT}"
}

# The guide's steps in order; returns 1 after reporting FAIL.
guide_steps() {
  # The device where a user starts: on its own driver.
  if ! run_step return || [ "$(tail -n 1 "${WORK}/guide-return.out")" != nvme ]; then
    lab_result guide FAIL "giving the nvme to its driver before the guide: ${GUIDE_FAIL:-$(tail -n 1 "${WORK}/guide-return.out")}"
    return 1
  fi
  for step in iommu group bind run return; do
    if ! run_step "${step}"; then
      # A run that failed inside inner_boot reported its result into the
      # step's output: say it again where lab.sh looks.
      if grep -q "^LAB-RESULT guide " "${RESULTS}"; then
        grep "^LAB-RESULT guide " "${RESULTS}"
      else
        lab_result guide FAIL "${GUIDE_FAIL:-step ${step}: the inner Linux did not read the passed-through disk}"
      fi
      return 1
    fi
    case "${step}" in
      iommu)
        groups=$(tail -n 1 "${WORK}/guide-iommu.out")
        [ "${groups}" -gt 0 ] 2>/dev/null || { lab_result guide FAIL "step iommu: ${groups} IOMMU groups"; return 1; } ;;
      group)
        # The last command's output: the group's members, one a line.
        members=$(awk '/^\$ / { m = ""; next } { m = m (m == "" ? "" : " ") $0 } END { print m }' "${WORK}/guide-group.out")
        [ "${members}" = "${DEV}" ] || { lab_result guide FAIL "step group: group ${GROUP} holds '${members}', want ${DEV} alone"; return 1; } ;;
      bind)
        [ "$(pci_driver "/sys/bus/pci/devices/${DEV}")" = vfio-pci ] && [ -c "/dev/vfio/${GROUP}" ] ||
          { lab_result guide FAIL "step bind: driver $(pci_driver "/sys/bus/pci/devices/${DEV}"), /dev/vfio/${GROUP} $(ls -l "/dev/vfio/${GROUP}" 2>&1)"; return 1; } ;;
      return)
        back=$(tail -n 1 "${WORK}/guide-return.out")
        [ "${back}" = nvme ] || { lab_result guide FAIL "step return: the device is on '${back}', not nvme"; return 1; } ;;
    esac
  done
}

run_scenario() {
  DEV=$(pci_first 1b36:0010)
  [ -n "${DEV}" ] || { lab_result guide FAIL "no nvme device (1b36:0010)"; return; }
  # The README's guide boots a distribution's kernel as it ships: the bzImage.
  KERNEL=${INNER_BZIMAGE} INITRD=${INNER_INITRD} GUIDE_FAIL=""
  guide_steps
  ok=$?
  # Whatever happened, leave the nvme on vfio-pci for the scenarios after
  # this one, as the lab bound it.
  bind_vfio 1b36:0010 >/dev/null
  [ "${ok}" = 0 ] || return
  lab_result guide PASS "nvme ${DEV} (group ${GROUP}): nvme -> vfio-pci -> the inner Linux read /dev/nvme0n1 through microvm -> back on nvme, by the README's commands alone"
}
