"""Processes we start, known by identity: a PID together with its start time, so that a PID the
kernel has since given to another process is never taken for ours (PIDs are reused, by default
once 32768 have been handed out).

- `spawn()` starts a child as every supervisor here does: leading its own session and process
  group (one signal reaches it and its descendants), dying with its parent when asked (Linux
  PR_SET_PDEATHSIG), and registered when AUTOFLOW_PID_REGISTRY names a registry file (the test
  session's, see tests/conftest.py; processes started by processes we started inherit it).
- Children of ours are signalled and reaped through `exited()`, `end_group()` and `stop_children()`,
  which look at an exited child without reaping it: until it is reaped its PID, and so its process
  group id, cannot be reused, which makes a signal to its whole group safe.
- Processes that are not our children (left by a killed `make run`, or still alive when the test
  session ends) are found by `family()` from a `Record` of identities and ended by `end()`, each
  signal sent through a pidfd, the identity checked once it is open.

    python -m scripts.pids watch RECORD PID START GRACE   # see watch()
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

REGISTRY_ENV = "AUTOFLOW_PID_REGISTRY"


@dataclass(frozen=True)
class Proc:
    """One process: `pid` and `start` (clock ticks after boot, /proc/PID/stat field 22) identify it."""

    pid: int
    start: int
    pgid: int = field(default=0, compare=False)
    label: str = field(default="", compare=False)
    stop_signal: int = field(default=int(signal.SIGTERM), compare=False)  # 0: none, its parent stops it

    def alive(self) -> bool:
        """Still running (a zombie has finished), and still the process that was recorded."""
        current = _stat(self.pid)
        return current is not None and current.start == self.start

    def signal(self, signum: int) -> bool:
        """Send `signum` if this very process is still alive; False when it is gone."""
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return False
        except OSError:  # no pidfd (Linux before 5.3): checked just before, as close as it gets
            if not self.alive():
                return False
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)
            return True
        try:
            # The pidfd pins the process it was opened on: checked now, the signal cannot reach
            # a process that gets this PID later.
            if not self.alive():
                return False
            signal.pidfd_send_signal(pidfd, signum)
            return True
        except ProcessLookupError:
            return False
        finally:
            os.close(pidfd)

    def cmdline(self) -> str:
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return ""
        return raw.replace(b"\0", b" ").decode(errors="replace").strip()

    def line(self) -> str:
        return f"{self.pid} {self.start} {self.pgid} {self.stop_signal} {self.label or '-'}\n"

    @classmethod
    def parse(cls, line: str) -> Proc:
        pid, start, pgid, signum, label = line.split(maxsplit=4)
        return cls(int(pid), int(start), int(pgid), label.strip(), int(signum))


@dataclass(frozen=True)
class _Stat:
    pid: int
    ppid: int
    pgid: int
    start: int


def _stat(pid: int) -> _Stat | None:
    """A living (not zombie) process's parent, group and start time; None when there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and ")"
    if fields[0] in ("Z", "X"):
        return None
    return _Stat(pid, int(fields[1]), int(fields[2]), int(fields[19]))


def _all() -> dict[int, _Stat]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (found := _stat(int(name))):
            table[found.pid] = found
    return table


def identify(pid: int, label: str = "", stop_signal: int = signal.SIGTERM) -> Proc | None:
    found = _stat(pid)
    return Proc(pid, found.start, found.pgid, label, int(stop_signal)) if found else None


def family(recorded: Iterable[Proc]) -> list[Proc]:
    """What is alive of `recorded`: each process still alive with its recorded start time, the
    members of the process groups these lead, and all their descendants. (Only a living leader
    vouches for its group: once it is gone its group id may be given to someone else.)"""
    table = _all()
    children: dict[int, list[int]] = {}
    for entry in table.values():
        children.setdefault(entry.ppid, []).append(entry.pid)
    found: dict[int, Proc] = {}  # recorded ones first: they keep their label and stop signal
    todo: list[tuple[int, Proc]] = []
    for entry in recorded:
        current = table.get(entry.pid)
        if current is None or current.start != entry.start or entry.pid == os.getpid():
            continue
        found[entry.pid] = replace(entry, pgid=current.pgid)
        todo += [(child, entry) for child in children.get(entry.pid, ())]
        if current.pgid == entry.pid:
            todo += [(member.pid, entry) for member in table.values() if member.pgid == entry.pid]
    while todo:
        pid, origin = todo.pop()
        if pid in found or pid == os.getpid():
            continue
        current = table[pid]
        found[pid] = Proc(pid, current.start, current.pgid, f"{origin.label}/child", 0)
        todo += [(child, origin) for child in children.get(pid, ())]
    return list(found.values())


def marked(name: str, value: str) -> list[Proc]:
    """Living processes whose environment, as they were started, holds `name=value`: everything
    started, however indirectly, under that setting (a process that rewrites its environment
    area for its title, such as nginx or PostgreSQL, does not show it)."""
    needle = f"{name}={value}".encode()
    found = []
    for pid, entry in _all().items():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if pid != os.getpid() and needle in environ.split(b"\0"):
            found.append(Proc(pid, entry.start, entry.pgid, "started-under-registry", 0))
    return found


def survivors(registry: Path | str, *, grace: float = 5) -> list[Proc]:
    """What is still alive, after up to `grace` seconds for processes on their way out, of the
    processes registered in `registry` (see `family`) and of those started, however indirectly,
    with it as AUTOFLOW_PID_REGISTRY (see `marked`)."""
    registered = Record(registry).read()
    deadline = time.monotonic() + grace
    while True:
        left = {proc.pid: proc for proc in [*marked(REGISTRY_ENV, str(registry)), *family(registered)]}
        if not left or time.monotonic() >= deadline:
            return list(left.values())
        time.sleep(0.2)


def end(recorded: list[Proc], *, timeout: float = 20) -> list[Proc]:
    """Stop what is alive of `recorded` (see `family`): each recorded process gets its own stop
    signal (and stops its children itself); whatever of the family is left once those are gone,
    or after `timeout`, gets SIGKILL. Returns what was found alive."""
    found = family(recorded)
    signalled = [proc for proc in recorded if proc.stop_signal and proc.signal(proc.stop_signal)]
    deadline = time.monotonic() + timeout
    # Those told to stop stop their own children first; nobody stops orphans: no wait for them.
    while any(proc.alive() for proc in signalled) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = found
    for _ in range(20):  # a dying parent may still fork: go on until nothing is left
        left = list({p.pid: p for p in [*family(recorded), *left] if p.alive()}.values())
        if not left:
            break
        for proc in left:
            proc.signal(signal.SIGKILL)
        time.sleep(0.05)
    return found


# --- Children of ours ----------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def dying_with_parent(signum: int = signal.SIGTERM):
    """A preexec_fn that makes the child get `signum` when its parent dies, or None where that
    cannot be had. The kernel sends it when the *thread* that forked the child ends, so only
    children forked by the main thread get it."""
    if _libc is None or threading.current_thread() is not threading.main_thread():
        return None
    parent = os.getpid()
    prctl = _libc.prctl  # looked up before the fork: the child only calls it

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os.kill(os.getpid(), int(signum))

    return preexec


_own_records: list[Record] = []  # records of this process, see record_spawns()


def record_spawns(record: Record) -> None:
    """From now on, `register` adds to `record` too (this process only, unlike the registry)."""
    _own_records.append(record)


def register(pid: int, label: str, stop_signal: int = signal.SIGTERM) -> Proc | None:
    """Add a process to the registry named by AUTOFLOW_PID_REGISTRY, if any, and to the records
    of `record_spawns`; return its identity."""
    proc = identify(pid, label, stop_signal)
    if proc:
        records = [*_own_records, Record(os.environ[REGISTRY_ENV])] if os.environ.get(REGISTRY_ENV) else _own_records
        for record in records:
            record.append(proc)
    return proc


def spawn(cmd: list[str], *, label: str, stop_signal: int = signal.SIGTERM, die_with_parent: bool = True,
          new_session: bool = True, **popen_kwargs) -> subprocess.Popen:
    """subprocess.Popen for a child leading its own session (unless `new_session` is false),
    dying with its parent (SIGTERM: it stops its own children in order) when `die_with_parent`,
    and registered (see `register`)."""
    preexec = dying_with_parent() if die_with_parent else None
    process = subprocess.Popen(cmd, start_new_session=new_session, preexec_fn=preexec, **popen_kwargs)
    register(process.pid, label, stop_signal)
    return process


def exited(process: subprocess.Popen) -> int | None:
    """The child's exit status (negative: the signal that killed it), or None while it runs.
    Leaves an exited child unreaped: its PID and process group id stay reserved."""
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped behind our back
        return process.poll()
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def wait_exit(process: subprocess.Popen, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while (status := exited(process)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


def end_group(process: subprocess.Popen) -> int:
    """SIGKILL to whatever is left of the process group a child of ours leads (the child too),
    then reap it and return its exit status."""
    if process.returncode is None:  # unreaped, alive or not: the group id is still ours
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def stop_children(processes: list[tuple[subprocess.Popen, int]], *, timeout: float = 15) -> None:
    """Ask each child (each leading its own group) to stop with its own signal, wait up to
    `timeout` for them all, then end what is left of their groups: their stragglers too."""
    for process, signum in processes:
        if exited(process) is None:
            os.kill(process.pid, signum)  # not Popen.send_signal: that would reap it
    deadline = time.monotonic() + timeout
    for process, _ in processes:
        wait_exit(process, max(0.0, deadline - time.monotonic()))
        end_group(process)


# --- Records -------------------------------------------------------------------------------------

class Record:
    """A file of process identities, one `pid start pgid stop-signal label` line each."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def read(self) -> list[Proc]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                entries.append(Proc.parse(line))
        return entries

    def append(self, proc: Proc) -> None:
        # One short O_APPEND write: processes appending at once do not mix their lines.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, proc.line().encode())
        finally:
            os.close(fd)

    def write(self, procs: Iterable[Proc]) -> None:
        text = "".join(dict.fromkeys(proc.line() for proc in procs if proc))
        temporary = self.path.with_name(self.path.name + ".new")
        temporary.write_text(text)
        temporary.replace(self.path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the record among processes (a lock file beside it)."""
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def wait_gone(proc: Proc) -> None:
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd: poll
        while proc.alive():
            time.sleep(1)
        return
    try:
        while proc.alive():
            select.select([pidfd], [], [], 5)  # readable once the process has ended
    finally:
        os.close(pidfd)


def watch(record_path: str, pid: int, start: int, grace: float) -> int:
    """The watchdog of a supervisor that records its processes in `record_path` (`make run`):
    once the supervisor (`pid`, `start`) is gone without removing its record, it waits `grace`
    seconds for a new supervisor to take the record over, then ends every process of it."""
    supervisor = Proc(pid, start)
    record = Record(record_path)
    wait_gone(supervisor)
    time.sleep(grace)
    with record.locked():
        entries = record.read()
        if supervisor not in entries:  # cleaned up, or taken over by a new supervisor
            return 0
        ours = [e for e in entries if e.pid != os.getpid()]
        ended = end(ours, timeout=20)
        record.path.unlink(missing_ok=True)
    print(f"[watchdog] the supervisor {pid} died; ended {len(ended)} processes it left", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["watch"] or len(sys.argv) != 6:
        sys.exit("usage: python -m scripts.pids watch RECORD PID START GRACE")
    sys.exit(watch(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
