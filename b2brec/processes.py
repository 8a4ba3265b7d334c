"""Background processes the platform starts (stage jobs, MLflow, the demo's API): is one alive,
and stopping one with its whole process group (each is started with ``start_new_session=True``)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

_KEPT: dict[int, subprocess.Popen[bytes]] = {}


def keep(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Hold on to a background process this process started and will poll by pid (a job, a server):
    :func:`alive` reaps it once it ends, instead of it staying a zombie, and dropping the ``Popen``
    of a running child does not warn."""
    _KEPT[process.pid] = process
    return process


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    child = _KEPT.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _KEPT[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def stop_group(pid: int, *, timeout: float = 15.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout`` seconds.
    Returns whether the leader was still running (members left as zombies do not count)."""
    was_running = alive(pid)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return was_running
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return was_running
