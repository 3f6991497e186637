# Helpers shared by the lab scripts (sourced, not run).
# Under `set -e`, a function whose last command is a failed `a && b` fails its
# caller: conditions here are written as `if` statements for that reason.

# DJLAB_CPUSET_ROOT lets a test force the taskset fallback (point it at a missing path).
CPUSET_ROOT=${DJLAB_CPUSET_ROOT:-/sys/fs/cgroup/cpuset}

log() { echo "djlab[${LAB_NAME:-?}${HOST:+/$HOST}]: $*"; }

# Is pid $1 alive? A zombie is not: daemons here are reparented to pid 1, which
# may reap them late, and `kill -0` succeeds on a zombie.
alive() {
  local stat
  [ -n "${1:-}" ] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

# Terminate the given pids: TERM, up to 5 s of grace, then KILL. Quiet about pids
# that are already gone (the point is that they end up gone).
stop_pids() {
  local pids=() pid i
  for pid in "$@"; do
    if [ "$pid" != "$$" ] && alive "$pid"; then pids+=("$pid"); fi
  done
  [ "${#pids[@]}" -eq 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for i in $(seq 50); do
    local left=()
    for pid in "${pids[@]}"; do
      if alive "$pid"; then left+=("$pid"); fi
    done
    [ "${#left[@]}" -eq 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
}

# Pids whose command line contains the string $1 (e.g. a host's state folder).
pids_mentioning() {
  local needle=$1 d
  for d in /proc/[0-9]*; do
    [ "${d#/proc/}" = "$$" ] && continue
    if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$needle"; then
      echo "${d#/proc/}"
    fi
  done
}

# Empty a cpuset cgroup (kill every process still in it, TERM then KILL), then
# remove it. rmdir only succeeds on a cgroup without tasks, so retry briefly while
# the kernel reaps the last ones.
remove_cgroup() {
  local cg=$1 i
  [ -d "$cg" ] || return 0
  for i in $(seq 30); do
    # shellcheck disable=SC2046
    stop_pids $(cat "$cg/cgroup.procs" 2>/dev/null)
    rmdir "$cg" 2>/dev/null && return 0
    [ -d "$cg" ] || return 0
    sleep 0.2
  done
  echo "cannot remove cgroup $cg (tasks: $(tr '\n' ' ' <"$cg/cgroup.procs" 2>/dev/null))" >&2
  return 1
}
