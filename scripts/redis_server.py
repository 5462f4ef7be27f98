"""A local redis-server owned by the project (see scripts/services.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from scripts import pids
from scripts.common import ServiceError, as_service_user, hand_over, log, port_open


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
