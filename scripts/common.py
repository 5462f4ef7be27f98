"""What the local servers, the web tier and the stack share: where the checkout and its server
data are, the unprivileged service user servers run as when we are root, ports, and logging.

PostgreSQL refuses to run as root, so when this runs as root the servers run as an unprivileged
service user (`AUTOFLOW_SERVICE_USER`, default `autoflow`, created when missing). Ports are
always explicit; nothing assumes 5432 or 6379 are free.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("AUTOFLOW_RUN_DIR") or REPO / ".run")
# The worker cluster, run from REPO with the project's Python. Started leading its own process
# group, which then holds all of its processes; SIGTERM to its main process stops it in order.
WORKER_COMMAND = ("manage.py", "runcluster")


class ServiceError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def is_root() -> bool:
    return os.geteuid() == 0


def service_user() -> str | None:
    """The unprivileged account servers run as when we are root; None when we are not root."""
    if not is_root():
        return None
    name = os.environ.get("AUTOFLOW_SERVICE_USER", "autoflow")
    try:
        pwd.getpwnam(name)
    except KeyError:
        log(f"creating unprivileged service user {name!r} (PostgreSQL refuses to run as root)")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )
    return name


def as_service_user() -> dict:
    """subprocess keyword arguments that drop root privileges to the service user."""
    user = service_user()
    if not user:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [],
            "env": {**os.environ, "HOME": str(tempfile.gettempdir()), "USER": user}}


def hand_over(path: Path) -> None:
    """Make `path` (a folder we created) belong to the service user."""
    user = service_user()
    if user:
        entry = pwd.getpwnam(user)
        for root, dirs, files in os.walk(path):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def reachable_by_service_user(path: Path) -> bool:
    if not service_user():
        return True
    # Only traversal is needed: each server's own folder inside is handed over to the user.
    probe = subprocess.run(["test", "-x", str(path)], check=False, **as_service_user())
    return probe.returncode == 0


def fresh_metrics_dir(path: Path) -> Path:
    """PROMETHEUS_MULTIPROC_DIR for a stack's processes (core/metrics.py): created, and emptied of
    the sample files of an earlier start (whose processes are gone; their counters would be summed
    in again)."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path
