"""Stopping background process groups, and telling a live process from a finished one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from b2brec.processes import alive, stop_group

LEADER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""


def test_stop_group_ends_leader_and_children(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    leader = subprocess.Popen([sys.executable, "-c", LEADER, str(child_pid_file)], start_new_session=True)
    deadline = time.monotonic() + 30
    while not child_pid_file.exists() or not child_pid_file.read_text():
        assert time.monotonic() < deadline, "the leader did not start its child"
        time.sleep(0.05)
    child_pid = int(child_pid_file.read_text())
    assert alive(leader.pid) and alive(child_pid)
    assert stop_group(leader.pid, timeout=10) is True
    leader.wait(timeout=10)
    deadline = time.monotonic() + 10
    while alive(child_pid):  # the orphaned child is reaped by init once it ends
        assert time.monotonic() < deadline, "the child outlived its group"
        time.sleep(0.05)
    assert stop_group(leader.pid, timeout=1) is False


def test_an_exited_unreaped_process_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, left as a zombie
    assert not alive(child.pid)
    child.wait()
