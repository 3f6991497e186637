#!/usr/bin/env bash
# Tear down one lab host: sshd and every process started on the host (cgroup tasks,
# namespace members, anything running from the host's folder), the cgroup, the veth,
# the namespace, the host's folder. Robust when any piece is already gone.
# Env: LAB_NAME HOST NETNS VETH CGROUP HOST_DIR
set -euo pipefail
: "${LAB_NAME:?}" "${HOST:?}" "${NETNS:?}" "${VETH:?}" "${CGROUP:?}" "${HOST_DIR:?}"
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

# sshd first, so no new session starts while we sweep.
pid=$(cat "$HOST_DIR/sshd.pid" 2>/dev/null || true)
if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$HOST_DIR/sshd_config"; then
  stop_pids "$pid"
fi

# Whatever still runs on the host: in its cgroup (sessions, servers, load
# generators), in its namespace (the taskset fallback has no cgroup), or from its
# folder (e.g. a server started out of the host's lab_root).
remove_cgroup "$CPUSET_ROOT/$CGROUP"
if [ -e "/run/netns/$NETNS" ]; then
  # shellcheck disable=SC2046
  stop_pids $(ip netns pids "$NETNS" 2>/dev/null)
fi
# shellcheck disable=SC2046
stop_pids $(pids_mentioning "$HOST_DIR/")

# Deleting one end of a veth pair deletes both; do it explicitly because the
# kernel frees a deleted namespace (and the links in it) asynchronously.
ip link del dev "$VETH" 2>/dev/null || true
if [ -e "/run/netns/$NETNS" ]; then
  ip netns del "$NETNS"
fi

rm -rf -- "$HOST_DIR"
log "host removed"
