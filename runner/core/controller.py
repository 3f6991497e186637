"""Who is running a run: the controller process the manifest names, and
whether it still runs.

A run's manifest says `running` from its start to its end; the controller
(`lab run` on some machine) writes its identity beside the status. A reader
on the same machine tells a live run from one cut short (the controller was
killed, or the machine rebooted) by that identity: the same boot, a process
with that pid that started at the same instant. On another machine it
cannot tell (`unknown`).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict

ALIVE, GONE, UNKNOWN = "alive", "gone", "unknown"


class Controller(BaseModel):
    """The process that runs (or ran) a run."""

    model_config = ConfigDict(extra="allow")

    host: str                      # socket.gethostname()
    pid: int
    boot_id: Optional[str] = None  # /proc/sys/kernel/random/boot_id
    started: Optional[int] = None  # /proc/PID/stat field 22: clock ticks after boot


def _boot_id() -> Optional[str]:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _process_start(pid: int) -> Optional[int]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    # fields[0] is field 3 (state); field 22 (starttime) is fields[19].
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def this_controller() -> Controller:
    pid = os.getpid()
    return Controller(host=socket.gethostname(), pid=pid, boot_id=_boot_id(),
                      started=_process_start(pid))


def controller_state(controller: "Controller | dict | None") -> str:
    """ALIVE, GONE or UNKNOWN (no controller recorded, or another machine's)."""
    if controller is None:
        return UNKNOWN
    if isinstance(controller, dict):
        try:
            controller = Controller.model_validate(controller)
        except ValueError:
            return UNKNOWN
    if controller.host != socket.gethostname():
        return UNKNOWN
    if controller.boot_id and _boot_id() and controller.boot_id != _boot_id():
        return GONE          # the machine rebooted since
    started = _process_start(controller.pid)
    if started is None:
        return GONE
    if controller.started is not None and started != controller.started:
        return GONE          # the pid was reused by another process
    return ALIVE
