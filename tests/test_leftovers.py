"""No process outlives what started it: the identity of a process (scripts/pids.py), the
registry the test session checks at its end (tests/conftest.py), and children that die with
their parent."""

import os
import signal
import subprocess
import sys
import time

import pytest

from scripts import pids
from scripts.common import REPO
from testutils.fake_ollama import FakeOllamaProcess

pytestmark = pytest.mark.services

# Forks a child that stays in its group, and a grandchild that leaves it (setsid) and is orphaned.
FAMILY = """
import os, time
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        time.sleep(120)
    os._exit(0)
if os.fork() == 0:
    time.sleep(120)
time.sleep(120)
"""
# A child that stays in the group of its parent.
GROUP = "import os, time; os.fork(); time.sleep(120)"


def _wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_what_is_left_of_registered_processes_is_found_whole_and_ended(tmp_path, monkeypatch):
    registry = tmp_path / "registry"
    monkeypatch.setenv(pids.REGISTRY_ENV, str(registry))
    leader = pids.spawn([sys.executable, "-c", FAMILY], label="family")
    try:
        _wait_until(lambda: len(pids.survivors(registry, grace=0)) == 3)
        found = {proc.pid: proc for proc in pids.survivors(registry, grace=0)}
        assert found[leader.pid].label == "family"  # registered with its start time
        # The group member through the living leader, the orphan by the registry in its environment.
        assert sorted(proc.label for proc in found.values()) == ["family", "family/child", "started-under-registry"]

        pids.end(list(found.values()), timeout=5)
        assert not [proc for proc in found.values() if proc.alive()]
        assert pids.survivors(registry, grace=0) == []
    finally:
        pids.end_group(leader)


def test_a_pid_now_naming_another_process_is_neither_blamed_nor_signalled(tmp_path):
    registry = pids.Record(tmp_path / "registry")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        real = pids.identify(other.pid, "other")
        recycled = pids.Proc(other.pid, real.start - 1, other.pid, "gone")  # same PID, another start
        registry.append(recycled)
        assert not recycled.alive()
        assert pids.survivors(registry.path, grace=0) == []
        assert not recycled.signal(signal.SIGKILL)
        assert pids.end([recycled], timeout=1) == []
        assert other.poll() is None

        registry.append(real)
        assert pids.survivors(registry.path, grace=0) == [real]
    finally:
        other.kill()
        other.wait()


def test_the_session_registers_the_processes_the_helpers_start(tmp_path):
    session_registry = pids.Record(os.environ[pids.REGISTRY_ENV])  # the check of tests/conftest.py
    fake = FakeOllamaProcess(tmp_path)
    fake.start()
    try:
        entry = next(proc for proc in session_registry.read() if proc.pid == fake.proc.pid)
        assert entry.label == "fake-ollama"
        assert entry.alive()
        assert entry in pids.survivors(session_registry.path, grace=0)
    finally:
        fake.stop()
    assert not entry.alive()


def test_children_die_with_their_parent_killed_without_cleanup(tmp_path):
    # A parent that starts a child as the helpers do, then is killed with -9.
    pid_file = tmp_path / "child"
    parent = pids.spawn([sys.executable, "-c", (
        "import sys, time; from scripts import pids\n"
        f"child = pids.spawn([sys.executable, '-c', 'import time; time.sleep(120)'], label='child')\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)")], label="parent", cwd=REPO)
    try:
        _wait_until(lambda: pid_file.exists() and pid_file.read_text())
        child = pids.identify(int(pid_file.read_text()), "child")
        assert child.alive()
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        _wait_until(lambda: not child.alive(), timeout=5)  # SIGTERM from the kernel (PR_SET_PDEATHSIG)
    finally:
        pids.end_group(parent)


def test_a_child_of_ours_that_exited_keeps_its_group_reserved_until_reaped():
    leader = pids.spawn([sys.executable, "-c", GROUP], label="group")
    _wait_until(lambda: len(pids.family([pids.identify(leader.pid, "group")])) == 2)
    member = next(p for p in pids.family([pids.identify(leader.pid, "group")]) if p.pid != leader.pid)
    os.kill(leader.pid, signal.SIGKILL)
    assert pids.wait_exit(leader, 5) == -signal.SIGKILL
    assert leader.returncode is None  # not reaped: a zombie holds the PID and the group id
    assert member.alive()
    assert pids.end_group(leader) == -signal.SIGKILL  # the group's stragglers, then the reaping
    _wait_until(lambda: not member.alive(), timeout=5)
