"""A fake Ollama HTTP server for tests, bench/ and chaos/: real HTTP on a loopback port, Ollama's
wire format (GET /api/version and /api/tags; POST /api/chat, streamed as NDJSON or not, with a
JSON-schema `format`), with knobs for the faults a real server shows.

`fake.faults` is a queue: each chat request takes the next fault, then `fake.mode` applies.
Faults: ok, slow (headers after `fake.delay` s), 500, 503, 404, 400, invalid_json, fenced,
wrong_enum, done_false, length, error_line, empty, reset (connection dropped mid-body).
Connection refused is a closed port: stop the server (`fake.stop()`) or point at one.
A fake in another process is switched with `POST /_fake/mode {"mode": …, "delay": …, "answers": …}`.

Answers are built from the request's JSON-schema `format`: `fake.answers[<first property>]`
overrides the defaults below (e.g. answers["intent"] = {...} for the classification).
"""

import contextlib
import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from scripts import pids

DEFAULT_ANSWERS = {
    "intent": {"intent": "faq", "confidence": 0.93, "severity": "low", "reasoning": "asks how the trial works"},
    "severity": {"severity": "medium", "summary": "The sender reports a problem (fake model)."},
    "seats": {"seats": -1, "budget": -1, "timeline": "unknown", "urgent": False},
    "answerable": {"answerable": True, "answer": "Yes: every plan starts with a 14-day free trial (fake model)."},
    "body": {"body": "Hi there,\n\nThanks for your message (fake model).\n\nBest regards,\nThe AutoFlow team"},
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


class FakeOllama:
    def __init__(self, *, models: list[str] | None = None, version: str = "0.12.6", port: int = 0):
        self.models = list(models if models is not None else ["llama3:latest"])
        self.version = version
        self.requests: list[str] = []
        self.chat_bodies: list[dict] = []
        self.faults: list[str] = []
        self.mode = "ok"
        self.delay = 0.0
        self.answers: dict[str, dict] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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
                        {"name": name, "model": name, "digest": fake.digest(name),
                         "size": 4_661_224_676, "details": {"family": "llama", "parameter_size": "8.0B"}}
                        for name in fake.models
                    ]})
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                fake.requests.append(f"POST {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path == "/_fake/mode":  # test control, for a fake in another process
                    knobs = json.loads(raw or b"{}")
                    fake.mode = knobs.get("mode", fake.mode)
                    fake.delay = float(knobs.get("delay", fake.delay))
                    fake.answers.update(knobs.get("answers", {}))
                    self._json(200, {"mode": fake.mode, "delay": fake.delay, "answers": fake.answers})
                    return
                if self.path != "/api/chat":
                    self._json(404, {"error": "not found"})
                    return
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    self._json(400, {"error": f"invalid character: {exc}"})
                    return
                fake.chat_bodies.append(body)
                model = body.get("model") or ""
                if not model:
                    self._json(400, {"error": "model is required"})
                    return
                if not body.get("messages"):  # load-only request (warm-up)
                    self._json(200, {"model": model, "created_at": _now(), "message": {"role": "assistant",
                                     "content": ""}, "done": True, "done_reason": "load"})
                    return
                fault = fake.next_fault()
                if fault == "slow":
                    time.sleep(fake.delay)
                if fault == "404" or not any(m in (model, f"{model}:latest") for m in fake.models):
                    self._json(404, {"error": f"model '{model}' not found"})
                    return
                if fault == "500":
                    self._json(500, {"error": "model runner has unexpectedly stopped, this may be due to resource "
                                              "limitations or an internal error, check ollama server logs for details"})
                    return
                if fault == "503":
                    self._json(503, {"error": "server busy, please try again.  maximum pending requests exceeded"})
                    return
                if fault == "400":
                    self._json(400, {"error": "invalid think value"})
                    return
                content = fake.content_for(body.get("format"), fault)
                self.reply(model, content, fault, stream=body.get("stream", True))

            def reply(self, model: str, content: str, fault: str, *, stream: bool) -> None:
                done = {"model": model, "created_at": _now(), "message": {"role": "assistant", "content": ""},
                        "done": True, "done_reason": "length" if fault == "length" else "stop",
                        "total_duration": 912_000_000, "load_duration": 1_000_000, "prompt_eval_count": 211,
                        "prompt_eval_duration": 80_000_000, "eval_count": 37, "eval_duration": 800_000_000}
                if not stream:
                    if fault == "done_false":
                        self._json(200, {"model": model, "created_at": _now(),
                                         "message": {"role": "assistant", "content": content}, "done": False})
                        return
                    self._json(200, {**done, "message": {"role": "assistant", "content": content}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = [content[i:i + 12] for i in range(0, len(content), 12)] or [""]

                def send_line(obj: dict) -> None:
                    data = (json.dumps(obj) + "\n").encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                for index, piece in enumerate(pieces):
                    send_line({"model": model, "created_at": _now(), "message": {"role": "assistant", "content": piece},
                               "done": False})
                    if fault == "error_line" and index == 0:
                        send_line({"error": "an error was encountered while running the model: unexpected EOF"})
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    if fault == "reset" and index == 0:
                        self.wfile.flush()
                        self.connection.close()
                        return
                if fault != "done_false":
                    send_line(done)
                self.wfile.write(b"0\r\n\r\n")

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # clients that hang up (timeouts, closed keep-alive connections) are expected

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._running = False

    @staticmethod
    def digest(name: str) -> str:
        return "sha256:" + hashlib.sha256(name.encode()).hexdigest()

    def next_fault(self) -> str:
        with self._lock:
            return self.faults.pop(0) if self.faults else self.mode

    def content_for(self, schema, fault: str) -> str:
        if fault == "empty":
            return ""
        if fault == "invalid_json":
            return "Sure! Here is what I think: the intent is probably faq."
        properties = list((schema or {}).get("properties", {})) if isinstance(schema, dict) else []
        key = properties[0] if properties else "body"
        answer = dict(DEFAULT_ANSWERS.get(key, {}))
        answer.update(self.answers.get(key, {}))
        if fault == "wrong_enum":
            answer = {**answer, **{k: "banana" for k in answer if k in ("intent", "severity", "timeline")}}
        text = json.dumps(answer)
        if fault == "fenced":
            return f"```json\n{text}\n```"
        return text

    @property
    def chat_count(self) -> int:
        return len(self.chat_bodies)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeOllama":
        self.thread.start()
        self._running = True
        return self

    def stop(self) -> None:
        if self._running:
            self.server.shutdown()
            self.server.server_close()
            self._running = False

    def __enter__(self) -> "FakeOllama":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class FakeOllamaProcess:
    """The fake in a process of its own (for workers in other processes). `stop()` and `start()`
    again keep its port, so a worker sees Ollama go down (connection refused) and come back."""

    def __init__(self, folder, *, mode: str = "ok", delay: float = 0.0):
        self.port_file = Path(folder) / "fake-ollama-url"
        self.mode, self.delay = mode, delay
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.port_file.unlink(missing_ok=True)
        self.proc = pids.spawn(
            [sys.executable, "-m", "testutils.fake_ollama", str(self.port_file), self.mode, str(self.delay), str(self.port)],
            label="fake-ollama", cwd=Path(__file__).resolve().parent.parent)
        deadline = time.monotonic() + 20
        while not (self.port_file.exists() and self.port_file.read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fake Ollama did not start")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text().rsplit(":", 1)[1])
        return self.url

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def set_mode(self, mode: str, delay: float | None = None) -> None:
        """Switch the running fake (`/_fake/mode`); the mode is also kept for a restart."""
        import httpx

        self.mode = mode
        self.delay = self.delay if delay is None else delay
        httpx.post(f"{self.url}/_fake/mode", json={"mode": self.mode, "delay": self.delay}, timeout=5).raise_for_status()


@contextlib.contextmanager
def fake_ollama_process(folder, *, mode: str = "ok", delay: float = 0.0):
    """A FakeOllamaProcess for the duration of the block; yields its URL."""
    fake = FakeOllamaProcess(folder, mode=mode, delay=delay)
    try:
        yield fake.start()
    finally:
        fake.stop()


def main() -> None:
    """Serve a fake Ollama on a port for tests that run the worker as another process:
    `python -m testutils.fake_ollama PORT_FILE [MODE] [DELAY] [PORT]` writes the URL to PORT_FILE."""
    fake = FakeOllama(port=int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    if len(sys.argv) > 2:
        fake.mode = sys.argv[2]
    if len(sys.argv) > 3:
        fake.delay = float(sys.argv[3])
    fake.start()
    with open(sys.argv[1], "w") as out:
        out.write(fake.url)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        fake.stop()


if __name__ == "__main__":
    main()
