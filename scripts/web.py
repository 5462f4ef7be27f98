"""The web tier as real processes: nginx in front, gunicorn for plain HTTP, daphne for WebSockets.

    client ──▶ nginx HOST:PORT ──/api/v1/ws/, /ws/──▶ daphne (ASGI: Channels consumers)
                               └─everything else───▶ gunicorn, WEB_WORKERS sync processes (WSGI)

Why: daphne is the WebSocket server, but one daphne process serving plain HTTP through Django's
sync-to-async hop is several times slower than WSGI workers (docs/benchmarks.md). nginx also
buffers slow clients, caps body and header sizes, limits connections and requests per client
address (WEB_CONN_LIMIT, WEB_REQ_RATE, WEB_REQ_BURST), cuts idle connections, and answers its own
errors (upstream down, too large, too many) with the same JSON envelope as the app.

Behind a proxy: nginx believes X-Forwarded-For and X-Forwarded-Proto only from TRUSTED_PROXIES
(addresses or CIDRs; loopback always) and passes the app the client it established and the
scheme (core/client_ip.py has the same rule). The tier refuses to serve on a non-loopback HOST
without WEBHOOK_API_KEY and AUTOFLOW_ADMIN_API_KEY unless AUTOFLOW_ALLOW_OPEN=1 (guard_exposure).

Used through scripts/stack.py by `make run` (scripts/run.py), the end-to-end tests
(testutils/live.py), bench/ and chaos/, and run on its own (`python -m scripts.web`, the container's command) where the database is elsewhere.
"""

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts import nginx_conf, pids
from scripts.common import (
    REPO,
    RUN_DIR,
    ServiceError,
    free_port,
    fresh_metrics_dir,
    hand_over,
    log,
    port_open,
    service_user,
)
from scripts.supervise import StopRequest, supervise

# Without both keys the API is open: the web tier serves it beyond loopback only when told to.
EXPOSURE_KEYS = ("WEBHOOK_API_KEY", "AUTOFLOW_ADMIN_API_KEY")
TRUE = ("1", "true", "yes", "y", "on", "ok")  # django-environ's booleans (autoflow/settings.py)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost; anything else (0.0.0.0, ::, a name) may face a network."""
    host = host.strip()
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def guard_exposure(env: dict[str, str], host: str) -> None:
    """Refuse (ServiceError) to serve on a non-loopback `host` while WEBHOOK_API_KEY or
    AUTOFLOW_ADMIN_API_KEY is missing from `env`, unless AUTOFLOW_ALLOW_OPEN is set; then warn."""
    missing = [name for name in EXPOSURE_KEYS if not env.get(name, "").strip()]
    if not missing:
        return
    if env.get("AUTOFLOW_ALLOW_OPEN", "").strip().lower() in TRUE:
        log(f"warning: AUTOFLOW_ALLOW_OPEN is set: serving on {host or '0.0.0.0'} without {' and '.join(missing)}; "
            "what they guard (intake, reads, deletes) may be open to whoever reaches it (/health: exposure open)")
        return
    if not is_loopback(host):
        raise ServiceError(
            f"refusing to serve on {host or '0.0.0.0'}, a non-loopback address, without {' and '.join(missing)}: "
            "what they guard (intake, reads, deletes) could be open to whoever reaches it. Set "
            f"{' and '.join(missing)} (see .env.example), bind HOST=127.0.0.1, or set AUTOFLOW_ALLOW_OPEN=1 "
            "to serve an open API on purpose.")


def find_nginx() -> str:
    found = os.environ.get("NGINX_BIN") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        raise ServiceError("nginx not found. Install it (Debian: apt-get install nginx) or set NGINX_BIN.")
    return found


class WebStack:
    """nginx + gunicorn + daphne for one environment. `processes` lists what must stay alive;
    each leads its own process group (gunicorn and nginx with their workers).

    `die_with_parent`: the processes get SIGTERM when the process that started them dies
    (`make run` leaves them to its watchdog instead, see scripts/run.py)."""

    STOP_SIGNALS = {"nginx": signal.SIGQUIT, "gunicorn": signal.SIGTERM, "daphne": signal.SIGTERM}

    def __init__(self, *, env: dict[str, str], host: str, port: int, run_dir: Path,
                 http_workers: int | None = None, quiet: bool = False, output=None, die_with_parent: bool = True):
        self.env = env
        self.host = host
        self.port = port
        self.run_dir = Path(run_dir)
        self.http_workers = http_workers or int(env.get("WEB_WORKERS", "4"))
        self.http_port = free_port()
        self.ws_port = free_port()
        # Where the processes write: a file object of the caller's, nowhere (quiet), or our own output.
        self.output = output if output is not None else subprocess.DEVNULL if quiet else None
        self.die_with_parent = die_with_parent
        self.processes: dict[str, subprocess.Popen] = {}
        self._down: list[str] = []  # ended after a crash, waiting for restart()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def _write_nginx_conf(self) -> Path:
        (self.run_dir / "tmp").mkdir(parents=True, exist_ok=True)
        user = service_user()
        conf = self.run_dir / "nginx.conf"
        listen = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        conf.write_text(nginx_conf.render(self.env, run_dir=self.run_dir, user=user, listen=listen,
                                          http_port=self.http_port, ws_port=self.ws_port))
        hand_over(self.run_dir / "tmp")
        return conf

    def _spawn(self, name: str) -> None:
        python = sys.executable
        if name == "gunicorn":
            cmd = [python, "-m", "gunicorn", "autoflow.wsgi:application", "--bind", f"127.0.0.1:{self.http_port}",
                   "--workers", str(self.http_workers), "--worker-class", "sync", "--timeout", "60",
                   "--graceful-timeout", "10", "--max-requests", "20000", "--max-requests-jitter", "2000",
                   "--log-level", "warning", "--control-socket", str(self.run_dir / "gunicorn.ctl")]
            where = {"cwd": REPO, "env": {**self.env, "DB_POOL": "false"}}  # sync workers keep their own connection
        elif name == "daphne":
            cmd = [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.ws_port), "--access-log", os.devnull,
                   "autoflow.asgi:application"]
            where = {"cwd": REPO, "env": self.env}
        else:
            conf = self._write_nginx_conf()
            cmd = [find_nginx(), "-c", str(conf), "-p", str(self.run_dir), "-e", str(self.run_dir / "nginx-error.log")]
            where = {"cwd": self.run_dir}
        self.processes[name] = pids.spawn(cmd, label=name, stop_signal=self.STOP_SIGNALS[name],
                                          die_with_parent=self.die_with_parent, stdout=self.output,
                                          stderr=self.output, **where)

    def _wait_ready(self, names: list[str], timeout: float) -> None:
        """Wait for the ports of `names`; ServiceError when one exits or does not open it in time."""
        ports = {"gunicorn": self.http_port, "daphne": self.ws_port, "nginx": self.port}
        deadline = time.monotonic() + timeout
        for name in names:
            host = self.host if name == "nginx" and self.host not in ("0.0.0.0", "") else "127.0.0.1"
            while not port_open(ports[name], host):
                status = pids.exited(self.processes[name])
                if status is not None:
                    raise ServiceError(f"{name} exited with {status} while starting")
                if time.monotonic() > deadline:
                    raise ServiceError(f"{name} did not open port {ports[name]} within {timeout:.0f} s")
                time.sleep(0.05)

    def start(self, *, timeout: float = 60) -> None:
        guard_exposure(self.env, self.host)
        self._write_nginx_conf()  # a setting nginx cannot take is refused before anything starts
        if port_open(self.port, "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host):
            raise ServiceError(f"port {self.port} is already taken; choose another (PORT)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        names = ["gunicorn", "daphne", "nginx"]
        try:
            for name in names:
                self._spawn(name)
            self._wait_ready(names, timeout)
        except BaseException:
            self.stop()
            raise

    def crashed(self) -> str | None:
        """The first process that exited, as a sentence; None while all run."""
        for name, process in self.processes.items():
            status = pids.exited(process)
            if status is not None:
                return f"{name} (pid {process.pid}) exited with {status}"
        return None

    def end_crashed(self) -> None:
        """End what the exited processes left of their groups (orphaned gunicorn or nginx workers
        still holding the ports); restart() starts them again."""
        for name, process in list(self.processes.items()):
            if pids.exited(process) is not None:
                pids.end_group(process)
                del self.processes[name]
                self._down.append(name)

    def restart(self, *, timeout: float = 60) -> str:
        """Start again, on the same ports, the processes end_crashed() ended; the others keep
        serving (nginx answers 503 for a backend that is down)."""
        self.end_crashed()
        names, self._down = self._down, []
        try:
            for name in names:
                self._spawn(name)
            self._wait_ready(names, timeout)
        except BaseException:
            pids.stop_children([(self.processes.pop(name), signal.SIGKILL) for name in names if name in self.processes],
                               timeout=5)
            self._down = names
            raise
        return ", ".join(f"{name} pid {self.processes[name].pid}" for name in names)

    def identities(self) -> list[pids.Proc]:
        """The processes of the tier, their workers included, as they are now."""
        return pids.family(proc for name, process in self.processes.items()
                           if (proc := pids.identify(process.pid, name, self.STOP_SIGNALS[name])))

    def stop(self) -> None:
        pids.stop_children([(process, self.STOP_SIGNALS[name]) for name, process in self.processes.items()])
        self.processes.clear()
        self._down.clear()
        if self.port:
            log(f"web tier on {self.port} stopped")


def main() -> int:
    """Serve until SIGTERM/SIGINT, with the settings of the environment (HOST, PORT, WEB_WORKERS);
    a process of the tier that dies is started again (see supervise)."""
    if (REPO / ".env").exists():
        # The .env the settings read: its keys count for guard_exposure too.
        import environ

        environ.Env.read_env(REPO / ".env", overwrite=False)
    stop = StopRequest()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")
    run_dir = Path(os.environ.get("AUTOFLOW_WEB_DIR") or RUN_DIR / "web")
    # The metrics of the tier's processes (core/metrics.py); a worker cluster that is to be
    # scraped with them is given the same folder (README, Metrics).
    env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(Path(env.get("PROMETHEUS_MULTIPROC_DIR")
                                                                  or run_dir / "metrics")))
    stack = WebStack(env=env, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")),
                     run_dir=run_dir)
    try:
        stack.start()
    except ServiceError as exc:
        log(f"error: {exc}")
        return 2
    log(f"serving on {stack.url}/")
    try:
        return supervise(stop, {"web tier": stack})
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
