"""A local redis-server owned by the project (see scripts/services.py).

It requires a password: a random one made for its data folder, kept there in `password` (mode
0600) so that a restarted server (`make run` again on `.run/`) keeps the URL that was handed out.
The server reads it on standard input, never from its command line (which every local user can
read in /proc), and `url` carries it: `redis://:PASSWORD@127.0.0.1:PORT/0`."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from scripts import pids
from scripts.common import ServiceError, as_service_user, hand_over, log, port_open

PASSWORD_FILE = "password"


def folder_password(base_dir: Path) -> str:
    """The Redis password of a data folder, made (random, URL-safe, mode 0600) when it has none."""
    path = Path(base_dir) / PASSWORD_FILE
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


class RedisServer:
    """One redis-server on 127.0.0.1:`port`, in the foreground of a child process we own."""

    def __init__(self, base_dir: Path, port: int, *, die_with_parent: bool = True):
        self.base_dir = Path(base_dir)
        self.port = port
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen | None = None
        self.adopted = False
        self._password: str | None = None
        binary = os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServiceError(
                "redis-server not found. Install it (Debian: apt-get install redis-server) "
                "or set REDIS_URL to a server of yours."
            )
        self.binary = binary

    @property
    def password(self) -> str:
        if self._password is None:
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self._password = folder_password(self.base_dir)
        return self._password

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def _client(self, *, timeout: float, password: str | None = None):
        import redis

        return redis.Redis(port=self.port, socket_timeout=timeout,
                           password=self.password if password is None else (password or None))

    def _ours_already_running(self) -> bool:
        """Is the server on our port one of ours (same data folder), left over by a killed run?
        One of ours without our password (from before servers had one) is stopped here, and
        then it is not."""
        import redis

        for password in (self.password, ""):  # an open server may refuse a password (RESP2)
            try:
                client = self._client(timeout=1, password=password)
                folder = client.config_get("dir").get("dir")
                required = client.config_get("requirepass").get("requirepass")
                break
            except redis.RedisError:
                continue
        else:
            return False
        if folder != str(self.base_dir.resolve()):
            return False
        if required == self.password:
            return True
        log(f"Redis of {self.base_dir} on {self.port} has no password; restarting it with one")
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return False

    def start(self) -> None:
        if port_open(self.port):
            if self._ours_already_running():
                log(f"Redis of {self.base_dir} is already running on {self.port}; using it")
                self.adopted = True
                return
            if port_open(self.port):
                raise ServiceError(f"port {self.port} is already taken; choose another (AUTOFLOW_REDIS_PORT)")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        password = self.password
        hand_over(self.base_dir)
        # "-": the rest of the configuration comes on standard input (the password, off the command line).
        self.process = pids.spawn(
            [
                self.binary, "-", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.base_dir), "--save", "", "--appendonly", "no",
                "--logfile", str(self.base_dir / "server.log"), "--daemonize", "no",
            ],
            label="redis", die_with_parent=self.die_with_parent, stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, **as_service_user(),  # stdout: "Reading config from stdin"; errors: stderr
        )
        try:
            self.process.stdin.write(f"requirepass {password}\n".encode())
        except BrokenPipeError:
            pass  # it exited at once: said below
        finally:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
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
                self._client(timeout=5).shutdown(nosave=True)
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
                return pids.identify(self._client(timeout=1).info("server")["process_id"], "redis")
        return None
