#!/usr/bin/env bash
# Remove the lab-wide pieces (runs after every host is gone): the bridge, the parent
# cpuset cgroup, the lab's SSH folder. Robust when any of them is already gone.
# Keeps STATE_DIR itself (Terraform state lives there) and anything else in it
# that the lab did not create (e.g. the controller's wheelhouse).
# Env: LAB_NAME BRIDGE CGROUP_PARENT STATE_DIR
set -euo pipefail
: "${LAB_NAME:?}" "${BRIDGE:?}" "${CGROUP_PARENT:?}" "${STATE_DIR:?}"
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

if ip link show dev "$BRIDGE" >/dev/null 2>&1; then
  ip link del dev "$BRIDGE"
  log "deleted bridge $BRIDGE"
fi

# Host cgroups are normally gone already; sweep any that are not, then the parent.
cg=$CPUSET_ROOT/$CGROUP_PARENT
if [ -d "$cg" ]; then
  for child in "$cg"/*/; do
    if [ -d "$child" ]; then remove_cgroup "${child%/}"; fi
  done
  remove_cgroup "$cg"
  log "removed cpuset $cg"
fi

rm -rf -- "$STATE_DIR/ssh"
rmdir -- "$STATE_DIR/hosts" 2>/dev/null || true
