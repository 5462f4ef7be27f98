"""A real webhook receiver on loopback for the outbound webhook tests: a ThreadingHTTPServer that
answers each POST with the next step of its script (then 200), records every request, and can
be taken down (its port closed: connections are refused) and brought up again on the same port.

    200, 500, 410 …          that status, body "ok"/"error"
    (429, {"Retry-After": "7"})   a status with headers
    "redirect"               302 to /elsewhere (which must not be followed)
"""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    script: list = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def __enter__(self) -> "WebhookReceiver":
        return self

    def __exit__(self, *exc) -> None:
        self.down()

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    step = receiver.script.pop(0) if receiver.script else 200
                status, headers = (step if isinstance(step, tuple) else (step, {}))
                if status == "redirect":
                    status, headers = 302, {"Location": "/elsewhere"}
                payload = b"ok" if 200 <= status < 300 else b"error " * 2000  # > the sender's read cap
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop serving and close the port: connections to it are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


def run_of(client, **fields):
    """A run (testutils/factories.py) whose inquiry the API client `client` submitted."""
    from inquiries.models import Inquiry, Run
    from testutils.factories import make_run

    run = make_run(**fields)
    Inquiry.objects.filter(pk=run.inquiry_id).update(api_client=client)
    return Run.objects.select_related("inquiry").get(pk=run.pk)


def fail_run(run) -> None:
    """End the run `error` the way a run out of attempts ends (inquiries/services/_common.py)."""
    from django.db import transaction

    from inquiries.models import RunStatus
    from inquiries.services._common import end_locked, locked_run

    with transaction.atomic():
        end_locked(locked_run(run.pk), status=RunStatus.ERROR, error_code="x", error="boom")
