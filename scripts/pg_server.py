"""A local PostgreSQL cluster owned by the project (see scripts/services.py)."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

from scripts import pids
from scripts.common import ServiceError, as_service_user, hand_over, log, port_open


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

    def __init__(self, base_dir: Path, port: int, *, user: str = "autoflow", dbname: str = "autoflow",
                 template: Path | None = None):
        self.base_dir = Path(base_dir)
        # A stopped cluster of ours (the `postgres` folder of another PostgresServer) to copy
        # instead of running initdb: the tests' stacks start from one migrated copy.
        self.template = Path(template) if template else None
        self.from_template = False
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
        if self.template is not None:
            shutil.copytree(self.template / "data", self.data_dir, symlinks=True)
            shutil.copy2(self.template / "password", self.password_file)
            hand_over(self.base_dir)
            self.from_template = True
            log(f"copied {self.template} to {self.data_dir}")
            return
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
