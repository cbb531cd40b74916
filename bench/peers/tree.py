"""A process and its descendants, from /proc: Celery's prefork pool lives in children of the worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _parent_of(stat: str) -> int:
    # The command name in parentheses may hold spaces; the parent pid is the second field after it.
    return int(stat.rpartition(")")[2].split()[1])


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = _parent_of((entry / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue  # it exited while we looked
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def peak_mib(pid: int) -> float:
    """VmHWM (peak resident set) of one process; 0 if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    return 0.0


def tree_peak_mib(pid: int) -> float:
    """The process's peak RSS plus each descendant's: shared copy-on-write pages count once per process."""
    return peak_mib(pid) + sum(peak_mib(child) for child in descendants(pid))


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def kill_leftovers(pids: list[int], grace: float = 5.0) -> list[int]:
    """SIGKILL those of `pids` (a stopped parent's children, listed before it stopped) still running
    after `grace` seconds: a pool process may still be on its way out when its parent has gone."""
    deadline = time.monotonic() + grace
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = []
    for pid in filter(running, pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(pid)
    return killed
