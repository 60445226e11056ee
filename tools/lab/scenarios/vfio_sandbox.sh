# SPDX-License-Identifier: Apache-2.0
# Scenario vfio_sandbox: microvm passes the edu device through as an
# unprivileged user, under its sandbox (vmm/sandbox, SECURITY.md).
#
#  1. Started as user "lab" (uid/gid 1000, no capabilities): /dev/kvm and
#     the edu's /dev/vfio/<group> handed to it (chown), the locked-memory
#     limit set to the guest's RAM (ulimit -l), nothing else. The edu tiny
#     guest gets 1 GiB, so the DMA thread pins RAM for seconds beside it;
#     its checks (registers, factorial, INTx, MSI, DMA) pass, and while it
#     ran every microvm thread seen (main, vcpu0, dma) showed "Seccomp: 2",
#     "NoNewPrivs: 1" and "CapEff: 0000000000000000".
#  2. Started as root with --user 1000:1000: the same, and every thread ran
#     as uid 1000.
#  3. A forbidden call on each kind of thread (the test-only hook
#     MICROVM_TEST_FORBIDDEN_CALL=vmm|vcpu|dma: the thread calls socket()
#     right after installing its filter) ends microvm with one line naming
#     that thread and "socket", status 1; the device is free for the next run.
. "${LAB}/scenarios/vfio_edu.sh"

SANDBOX_UID=1000
SANDBOX_MEM=1024

# sandbox_watch PID OUT: until PID ends, snapshots every thread's Seccomp,
# NoNewPrivs, CapEff and Uid into OUT ("name key value" lines; the main
# thread as "main"), keeping the snapshot with the most threads.
sandbox_watch() {
  _pid=$1 _out=$2 _best=0
  : >"${_out}"
  while [ -d "/proc/${_pid}" ]; do
    _snap=${_out}.snap _n=0
    : >"${_snap}"
    for t in /proc/"${_pid}"/task/*; do
      [ -r "${t}/status" ] || continue
      name=$(cat "${t}/comm" 2>/dev/null)
      [ "${t##*/}" = "${_pid}" ] && name=main
      awk -v n="${name}" '/^(Seccomp|NoNewPrivs|CapEff|Uid):/ { print n, $1, $2 }' "${t}/status" >>"${_snap}"
      _n=$((_n + 1))
    done
    if [ "${_n}" -gt "${_best}" ] && grep -q '^main ' "${_snap}"; then
      _best=${_n}
      cp "${_snap}" "${_out}"
    fi
    sleep 0.05
  done
}

# sandbox_pid COMM: the pid of the process named COMM (one at a time here).
sandbox_pid() {
  for p in /proc/[0-9]*; do
    [ "$(cat "${p}/comm" 2>/dev/null)" = "$1" ] && { echo "${p#/proc/}"; return; }
  done
}

# sandbox_check NAME OUT UID: every thread in OUT sandboxed, as UID; the
# DMA thread among them. Reports FAIL and returns 1 otherwise.
sandbox_check() {
  _name=$1 _out=$2 _uid=$3
  for thread in main vcpu0 dma; do
    grep -q "^${thread} " "${_out}" || {
      lab_result vfio_sandbox FAIL "${_name}: thread ${thread} never seen (saw: $(cut -d' ' -f1 "${_out}" | sort -u | tr '\n' ' '))"
      return 1
    }
  done
  bad=$(awk -v uid="${_uid}" '
    $2 == "Seccomp:" && $3 != 2 { print $1 " Seccomp " $3 }
    $2 == "NoNewPrivs:" && $3 != 1 { print $1 " NoNewPrivs " $3 }
    $2 == "CapEff:" && $3 != "0000000000000000" { print $1 " CapEff " $3 }
    $2 == "Uid:" && $3 != uid { print $1 " Uid " $3 }' "${_out}")
  if [ -n "${bad}" ]; then
    lab_result vfio_sandbox FAIL "${_name}: $(echo "${bad}" | tr '\n' ';')"
    return 1
  fi
  return 0
}

# sandbox_run NAME WRAPPER...: microvm on the edu guest with 1 GiB, behind
# WRAPPER (su, env); sets SB_LOG, SB_STATUS and SB_THREADS.
sandbox_run() {
  _name=$1
  shift
  SB_LOG=${WORK}/sandbox-${_name}.log
  SB_THREADS=${WORK}/sandbox-${_name}.threads
  echo "LAB-AGENT: [${_name}] $* microvm --kernel edu.elf --mem ${SANDBOX_MEM} --vfio $(edu_bdf)"
  "$@" >"${SB_LOG}" 2>&1 &
  _wrapper=$!
  # The microvm process itself (su forks it), by its name.
  _comm=$(basename "${MICROVM}" | cut -c1-15)
  _pid=""
  for _ in $(seq 1 100); do
    _pid=$(sandbox_pid "${_comm}")
    [ -n "${_pid}" ] && break
    sleep 0.05
  done
  if [ -n "${_pid}" ]; then sandbox_watch "${_pid}" "${SB_THREADS}"; fi
  wait "${_wrapper}"
  SB_STATUS=$?
  sed 's/^/inner| /' "${SB_LOG}"
}

run_scenario() {
  guest=${LAB_GUESTS:-/lab/guests}/edu.elf
  [ -s "${guest}" ] || { lab_result vfio_sandbox FAIL "no edu guest"; return; }
  bdf=$(edu_bdf)
  [ -n "${bdf}" ] || { lab_result vfio_sandbox FAIL "no edu device (1234:11e8)"; return; }
  group=$(pci_group "/sys/bus/pci/devices/${bdf}")
  microvm_cmd="${MICROVM} --kernel ${guest} --mem ${SANDBOX_MEM} --vfio ${bdf}"

  # 1. Unprivileged from the start.
  grep -q '^lab:' /etc/passwd 2>/dev/null ||
    echo "lab:x:${SANDBOX_UID}:${SANDBOX_UID}:lab:/tmp:/bin/sh" >>/etc/passwd
  grep -q '^lab:' /etc/group 2>/dev/null || echo "lab:x:${SANDBOX_UID}:" >>/etc/group
  chown "${SANDBOX_UID}" /dev/kvm "/dev/vfio/${group}"
  chmod 0666 /dev/vfio/vfio
  # The limit is raised by root (the hard limit too), then su keeps it.
  sandbox_run unprivileged sh -c "ulimit -l $((SANDBOX_MEM * 1024)) && exec su -s /bin/sh lab -c 'exec ${microvm_cmd}'"
  chown 0 /dev/kvm "/dev/vfio/${group}"
  if [ "${SB_STATUS}" != 0 ] || ! grep -q '^PASS edu' "${SB_LOG}"; then
    lab_result vfio_sandbox FAIL "unprivileged: status ${SB_STATUS}: $(grep -m1 -E '^FAIL|microvm:' "${SB_LOG}" | cut -c1-200)"
    return
  fi
  sandbox_check unprivileged "${SB_THREADS}" "${SANDBOX_UID}" || return

  # 2. Root, switching with --user after set-up.
  # shellcheck disable=SC2086 # the command splits on purpose
  sandbox_run user ${microvm_cmd} --user "${SANDBOX_UID}:${SANDBOX_UID}"
  if [ "${SB_STATUS}" != 0 ] || ! grep -q '^PASS edu' "${SB_LOG}"; then
    lab_result vfio_sandbox FAIL "--user: status ${SB_STATUS}: $(grep -m1 -E '^FAIL|microvm:' "${SB_LOG}" | cut -c1-200)"
    return
  fi
  sandbox_check --user "${SB_THREADS}" "${SANDBOX_UID}" || return

  # 3. A forbidden call on each kind of thread.
  for kind in vmm vcpu dma; do
    case ${kind} in vcpu) thread=vcpu0 ;; *) thread=${kind} ;; esac
    # shellcheck disable=SC2086
    sandbox_run "forbidden-${kind}" env MICROVM_TEST_FORBIDDEN_CALL="${kind}" ${microvm_cmd}
    lines=$(grep -c 'microvm:' "${SB_LOG}")
    if [ "${SB_STATUS}" != 1 ] ||
       ! grep -q "^microvm: the sandbox stopped the ${thread} thread: system call socket (41) is not in its seccomp filter" "${SB_LOG}" ||
       [ "${lines}" != 1 ]; then
      lab_result vfio_sandbox FAIL "forbidden call on ${kind}: status ${SB_STATUS}, ${lines} microvm lines: $(grep -m1 'microvm:' "${SB_LOG}" | cut -c1-200)"
      return
    fi
  done
  # The device is free again after the killed runs.
  edu_run vfio_sandbox irqfd after || return
  lab_result vfio_sandbox PASS "edu ${bdf} as uid ${SANDBOX_UID} (su, and --user): guest checks pass; main, vcpu0, dma threads Seccomp 2, NoNewPrivs 1, CapEff 0; a forbidden call on vmm, vcpu0, dma: one line, status 1"
}
