"""A fake Ollama HTTP server for tests: real HTTP on a loopback port, Ollama's wire format.

Only the metadata endpoints so far (`/api/version`, `/api/tags`); the chat endpoint and its fault
knobs join when the workflow needs them.
"""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOllama:
    def __init__(self, *, models: list[str] | None = None, version: str = "0.12.6"):
        self.models = list(models if models is not None else ["llama3:latest"])
        self.version = version
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append(f"GET {self.path}")
                if self.path == "/api/version":
                    self._json(200, {"version": fake.version})
                elif self.path == "/api/tags":
                    self._json(200, {"models": [
                        {"name": name, "model": name, "digest": "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                         "size": 4_661_224_676, "details": {"family": "llama", "parameter_size": "8.0B"}}
                        for name in fake.models
                    ]})
                else:
                    self._json(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeOllama":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
