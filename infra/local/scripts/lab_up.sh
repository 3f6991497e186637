#!/usr/bin/env bash
# Create the lab-wide pieces: the state folder, the lab's client SSH key, the bridge
# (root namespace, subnet .1) and the parent cpuset cgroup. Idempotent.
# Env: LAB_NAME BRIDGE BRIDGE_ADDRESS CGROUP_PARENT STATE_DIR
set -euo pipefail
: "${LAB_NAME:?}" "${BRIDGE:?}" "${BRIDGE_ADDRESS:?}" "${CGROUP_PARENT:?}" "${STATE_DIR:?}"
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
umask 077

# Keys and configs are secrets of the lab: owner-only folders.
mkdir -p "$STATE_DIR/ssh" "$STATE_DIR/hosts"
chmod 700 "$STATE_DIR" "$STATE_DIR/ssh" "$STATE_DIR/hosts"

# The lab's own client key (never ~/.ssh).
key=$STATE_DIR/ssh/id_ed25519
if [ ! -s "$key" ] || [ ! -s "$key.pub" ]; then
  rm -f "$key" "$key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "djlab-$LAB_NAME" -f "$key"
  log "generated lab key $key"
fi
chmod 600 "$key"

# sshd refuses to start without its privilege separation folder.
install -d -m 0755 /run/sshd

# Two labs on the same subnet would fight over routes: refuse clearly.
addr=${BRIDGE_ADDRESS%/*}
other=$(ip -o -4 addr show | awk -v a="$addr" -v b="$BRIDGE" '{split($4, p, "/"); if (p[1] == a && $2 != b) print $2}')
if [ -n "$other" ]; then
  echo "address $addr is already on interface $other (another lab on the same subnet?)" >&2
  exit 1
fi

if ! ip link show dev "$BRIDGE" >/dev/null 2>&1; then
  ip link add name "$BRIDGE" type bridge
  log "created bridge $BRIDGE"
fi
ip addr replace "$BRIDGE_ADDRESS" dev "$BRIDGE"
ip link set dev "$BRIDGE" up

# Parent cpuset: a child cpuset may only use CPUs/memory nodes its parent has, so
# give the parent everything the root cpuset has. If cpuset v1 is not writable,
# host_up.sh falls back to taskset.
cg=$CPUSET_ROOT/$CGROUP_PARENT
if [ -d "$CPUSET_ROOT" ] && mkdir -p "$cg" 2>/dev/null \
  && cat "$CPUSET_ROOT/cpuset.cpus" >"$cg/cpuset.cpus" \
  && cat "$CPUSET_ROOT/cpuset.mems" >"$cg/cpuset.mems"; then
  log "cpuset $cg ready (cpus $(cat "$cg/cpuset.cpus"))"
else
  log "cpuset v1 not writable: hosts will be pinned with taskset"
fi
