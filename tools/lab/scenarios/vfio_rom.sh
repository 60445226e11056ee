# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_rom: the expansion ROM of a passed-through device is
# readable by the guest. lab.sh gives the lab's last edu (1234:11e8) an 8 KiB
# ROM image it made (romfile=) and passes its SHA-256 as LAB_ROM_SHA256. The
# lab machine reads the ROM through sysfs first (so a failure below is
# microvm's); then the inner Linux, with `microvm --vfio <bdf>`, assigns the
# ROM BAR, enables it (echo 1 > .../rom) and reads it: the same bytes must
# come back (microvm traps the ROM BAR and reads VFIO's ROM region).
# shellcheck disable=SC2046 # "set -- $(...)" splits a line into fields on purpose.
run_scenario() {
  want=${LAB_ROM_SHA256:-}
  [ -n "${want}" ] || { lab_result vfio_rom FAIL "no LAB_ROM_SHA256 (run through tools/lab/lab.sh)"; return; }
  # The edu with a ROM: resource line 7 is the ROM ("start end flags").
  bdf=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(pci_id "${d}")" = 1234:11e8 ] || continue
    set -- $(sed -n 7p "${d}/resource")
    if [ $(($1)) != 0 ]; then bdf=${d##*/}; break; fi
  done
  [ -n "${bdf}" ] || { lab_result vfio_rom FAIL "no edu (1234:11e8) with an expansion ROM in the lab"; return; }
  dev=/sys/bus/pci/devices/${bdf}
  echo 1 >"${dev}/rom"
  lab_sum=$(sha256sum <"${dev}/rom" | cut -d' ' -f1)
  echo 0 >"${dev}/rom"
  echo "LAB-AGENT: edu ${bdf}: ROM at $(sed -n 7p "${dev}/resource" | cut -d' ' -f1) in the lab machine, sha256 ${lab_sum}"
  if [ "${lab_sum}" != "${want}" ]; then
    lab_result vfio_rom FAIL "the lab machine itself reads ROM sha256 ${lab_sum} from ${bdf}, want ${want} (QEMU romfile=?)"
    return
  fi

  cmd='for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = 0x1234:0x11e8 ] && dev=$d; done;'
  cmd="${cmd} echo \"rom \$(sed -n 7p \$dev/resource)\"; echo 1 >\$dev/rom;"
  cmd="${cmd} echo \"rom_bytes \$(wc -c <\$dev/rom)\"; echo \"rom_sha256 \$(sha256sum <\$dev/rom)\";"
  cmd="${cmd} echo rom_head \$(head -c 48 \$dev/rom | od -An -tx1); echo 0 >\$dev/rom"
  INNER_EXTRA_ARGS="--vfio ${bdf}"
  inner_boot --mem 128 --timeout 120 --cmd "${cmd}"
  INNER_EXTRA_ARGS=""
  inner_check_booted vfio_rom || return
  set -- $(grep '^rom ' "${INNER_OUT}")
  rom_at=${2:-}
  set -- $(grep '^rom_sha256 ' "${INNER_OUT}")
  got=${2:-}
  if [ "${got}" != "${want}" ]; then
    lab_result vfio_rom FAIL "inner guest read ROM sha256 '${got}' ($(grep '^rom_bytes' "${INNER_OUT}")) at ${rom_at:-?}, want ${want}: $(grep '^rom_head' "${INNER_OUT}" | cut -c1-200)"
    return
  fi
  lab_result vfio_rom PASS "${bdf}: inner guest read the 8 KiB ROM at ${rom_at} (sha256 ${want})"
}
