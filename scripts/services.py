"""Local PostgreSQL and Redis servers owned by the project.

Used by `make run` (persistent data under `.run/`), by `make test` (throw-away servers in a
temporary folder) and by tests that must stop a real server to prove a behaviour.

PostgreSQL refuses to run as root, so when this runs as root both servers run as an unprivileged
service user (`AUTOFLOW_SERVICE_USER`, default `autoflow`, created when missing). Ports are
always explicit; nothing assumes 5432 or 6379 are free.

    python -m scripts.services up                # start the .run/ servers, print their URLs, wait
    python -m scripts.services throwaway -- CMD  # fresh servers for CMD, removed afterwards
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scripts import pids

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


def find_pg_bindir() -> Path:
    configured = os.environ.get("PG_BINDIR")
    if configured:
        return Path(configured)
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("postgres") or shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise ServiceError(
        "PostgreSQL server binaries not found. Install them (Debian: apt-get install postgresql) "
        "or set DATABASE_URL to a server of yours."
    )


class PostgresServer:
    """One PostgreSQL cluster in `base_dir`, listening on 127.0.0.1:`port` only (no Unix socket)."""

    def __init__(self, base_dir: Path, port: int, *, user: str = "autoflow", dbname: str = "autoflow"):
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self.password_file = self.base_dir / "password"
        self.port = port
        self.user = user
        self.dbname = dbname
        self.bindir = find_pg_bindir()

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.dbname}"

    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def init(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.password_file.write_text(secrets.token_urlsafe(24) + "\n")
        self.password_file.chmod(0o600)
        hand_over(self.base_dir)
        log(f"initdb {self.data_dir}")
        subprocess.run(
            [
                self._bin("initdb"), "-D", str(self.data_dir), "-U", self.user,
                "--auth=scram-sha-256", f"--pwfile={self.password_file}",
                "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions",
            ],
            check=True, stdout=subprocess.DEVNULL, **as_service_user(),
        )

    def _running_here(self) -> bool:
        """Is a server of this data folder already up (left over by a killed `make run`)?"""
        status = subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "status"],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **as_service_user(),
        )
        return status.returncode == 0

    def start(self) -> None:
        self.init()
        if self._running_here():
            log(f"PostgreSQL of {self.data_dir} is already running; using it")
            self._ensure_database()
            return
        if port_open(self.port):
            raise ServiceError(f"port {self.port} is already taken; choose another (AUTOFLOW_PG_PORT)")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c fsync=on -c max_connections=200 -c shared_buffers=128MB"
        )
        subprocess.run(
            [
                self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", options, "-w", "-t", "60", "start",
            ],
            check=True, stdout=subprocess.DEVNULL, **as_service_user(),
        )
        self._ensure_database()
        if postmaster := self.identity():
            pids.register(postmaster.pid, "postgres", signal.SIGINT)
        log(f"PostgreSQL on 127.0.0.1:{self.port} (data {self.data_dir})")

    def identity(self) -> pids.Proc | None:
        """The postmaster running on this data folder (pg_ctl starts it detached from us)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pids.identify(pid, "postgres", signal.SIGINT)  # SIGINT: fast shutdown

    def _ensure_database(self) -> None:
        import psycopg

        admin = f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.dbname]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def stop(self) -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **as_service_user(),
        )

    def is_running(self) -> bool:
        return port_open(self.port)


class RedisServer:
    """One redis-server on 127.0.0.1:`port`, in the foreground of a child process we own."""

    def __init__(self, base_dir: Path, port: int, *, die_with_parent: bool = True):
        self.base_dir = Path(base_dir)
        self.port = port
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen | None = None
        self.adopted = False
        binary = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServiceError(
                "redis-server not found. Install it (Debian: apt-get install redis-server) "
                "or set REDIS_URL to a server of yours."
            )
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _ours_already_running(self) -> bool:
        """Is the server on our port one of ours (same data folder), left over by a killed run?"""
        import redis

        try:
            answer = redis.Redis(port=self.port, socket_timeout=1).config_get("dir")
        except redis.RedisError:
            return False
        return answer.get("dir") == str(self.base_dir.resolve())

    def start(self) -> None:
        if port_open(self.port):
            if self._ours_already_running():
                log(f"Redis of {self.base_dir} is already running on {self.port}; using it")
                self.adopted = True
                return
            raise ServiceError(f"port {self.port} is already taken; choose another (AUTOFLOW_REDIS_PORT)")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        hand_over(self.base_dir)
        self.process = pids.spawn(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.base_dir), "--save", "", "--appendonly", "no",
                "--logfile", str(self.base_dir / "server.log"), "--daemonize", "no",
            ],
            label="redis", die_with_parent=self.die_with_parent, stdin=subprocess.DEVNULL, **as_service_user(),
        )
        deadline = time.monotonic() + 20
        while not port_open(self.port):
            if self.process.poll() is not None:
                raise ServiceError(f"redis-server exited with {self.process.returncode}; see {self.base_dir}/server.log")
            if time.monotonic() > deadline:
                raise ServiceError("redis-server did not open its port within 20 s")
            time.sleep(0.05)
        log(f"Redis on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        if self.adopted:
            import redis

            with contextlib.suppress(redis.RedisError):
                redis.Redis(port=self.port, socket_timeout=5).shutdown(nosave=True)
            self.adopted = False
        if self.process:
            pids.stop_children([(self.process, signal.SIGTERM)], timeout=10)
        self.process = None
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def is_running(self) -> bool:
        return port_open(self.port)

    def identity(self) -> pids.Proc | None:
        if self.process:
            return pids.identify(self.process.pid, "redis")
        if self.adopted:
            import redis

            with contextlib.suppress(redis.RedisError):
                return pids.identify(redis.Redis(port=self.port, socket_timeout=1).info("server")["process_id"], "redis")
        return None


def persistent_base() -> Path:
    """`.run/` in the checkout, or a folder the service user can reach when the checkout is not."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if reachable_by_service_user(RUN_DIR):
        return RUN_DIR
    digest = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    fallback = Path("/var/tmp") / f"autoflow-{digest}"
    fallback.mkdir(mode=0o755, exist_ok=True)
    log(f"{RUN_DIR} is not reachable by the service user; keeping server data in {fallback}")
    return fallback


def scratch_base() -> Path:
    """A temporary folder the service user can reach."""
    base = Path(tempfile.mkdtemp(prefix="autoflow-test-", dir="/tmp" if is_root() else None))
    base.chmod(0o755)
    return base


@dataclass
class Services:
    env: dict[str, str] = field(default_factory=dict)  # DATABASE_URL / REDIS_URL of the servers
    servers: list[PostgresServer | RedisServer] = field(default_factory=list)

    def identities(self) -> list[pids.Proc]:
        return [proc for server in self.servers if (proc := server.identity())]


@contextlib.contextmanager
def local_services(*, persistent: bool, pg_port: int | None = None, redis_port: int | None = None,
                   want_postgres: bool = True, want_redis: bool = True,
                   die_with_parent: bool = True) -> Iterator[Services]:
    """Start the servers that are wanted and yield them with the environment that points at them.
    `die_with_parent`: Redis dies with this process (PostgreSQL, detached by pg_ctl, cannot)."""
    base = persistent_base() if persistent else scratch_base()
    services = Services()
    try:
        if want_postgres:
            pg = PostgresServer(base / "postgres", pg_port or free_port())
            pg.start()
            services.servers.append(pg)
            services.env["DATABASE_URL"] = pg.url
        if want_redis:
            redis = RedisServer(base / "redis", redis_port or free_port(), die_with_parent=die_with_parent)
            redis.start()
            services.servers.append(redis)
            services.env["REDIS_URL"] = redis.url
        yield services
    finally:
        for server in reversed(services.servers):
            server.stop()
        if not persistent:
            shutil.rmtree(base, ignore_errors=True)


class StopRequest:
    """Ctrl-C and SIGTERM as a flag, so that a supervisor stops its children itself, in order."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, signum, _frame) -> None:
        self.requested = True


FIRST_RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 60.0  # seconds up after which a failure counts as the first again


def supervise(stop: StopRequest, parts: dict, *, tick=None) -> int:
    """Keep `parts` running until Ctrl-C or SIGTERM, then return 0.

    Each part (the web tier, the worker cluster) has `crashed()` (what failed, or None),
    `end_crashed()` (end what is left of it) and `restart()` (start it again, a description back;
    ServiceError when it cannot). A part that fails is restarted alone while the others keep
    running: 1 s after the failure, then 2, 4 … up to 30 s while it keeps failing, and 1 s again
    once it has stayed up a minute. `tick()` is called about every 0.2 s."""
    delays = dict.fromkeys(parts, FIRST_RESTART_DELAY)
    up_since = dict.fromkeys(parts, time.monotonic())
    due: dict[str, float] = {}  # parts waiting for their restart, and when

    def schedule(name: str, why: str) -> None:
        if time.monotonic() - up_since[name] >= STABLE_AFTER:
            delays[name] = FIRST_RESTART_DELAY
        due[name] = time.monotonic() + delays[name]
        log(f"{why}; restarting the {name} in {delays[name]:g} s, the rest keeps running")
        delays[name] = min(delays[name] * 2, MAX_RESTART_DELAY)

    while not stop.requested:
        for name, part in parts.items():
            if name not in due:
                failure = part.crashed()
                if failure:
                    part.end_crashed()
                    schedule(name, failure)
            elif time.monotonic() >= due[name]:
                try:
                    detail = part.restart()
                except ServiceError as exc:
                    schedule(name, f"the {name} did not restart: {exc}")
                    continue
                del due[name]
                up_since[name] = time.monotonic()
                log(f"the {name} restarted ({detail})")
        if tick:
            tick()
        time.sleep(0.2)
    return 0


def _forward_signals(child: subprocess.Popen) -> None:
    def forward(signum, _frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.services", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="start the persistent .run/ servers and wait for Ctrl-C")
    throwaway = sub.add_parser("throwaway", help="run a command against fresh servers")
    throwaway.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "up":
        with local_services(
            persistent=True,
            pg_port=int(os.environ.get("AUTOFLOW_PG_PORT", "54329")),
            redis_port=int(os.environ.get("AUTOFLOW_REDIS_PORT", "63799")),
        ) as services:
            for key, value in services.env.items():
                print(f"export {key}='{value}'", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        return 0

    cmd = [c for c in args.cmd if c != "--"] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("throwaway needs a command after --")
    with local_services(persistent=False) as services:
        # In our process group (the terminal's Ctrl-C reaches it too), and gone if we are killed.
        child = pids.spawn(cmd, label="throwaway-command", new_session=False, env={**os.environ, **services.env})
        _forward_signals(child)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
