"""A tiny SMTP server on loopback for delivery tests: each connection follows the next step of
its script, then `accept` once the script is used up.

    accept      a normal conversation; the message is kept in `messages` (raw bytes)
    421, 451    a transient refusal of MAIL FROM (4xx)
    550         a permanent refusal of MAIL FROM (5xx)
    hang        accept the connection and say nothing (a hung server: the client must time out)
"""

import socket
import threading


class FakeSMTP:
    def __init__(self, script=()):
        self.script = list(script)
        self.messages: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self) -> "FakeSMTP":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def use(self, settings) -> None:
        """Point Django's SMTP backend at this server (pytest-django's `settings` fixture)."""
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = self.host, self.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            step = self.script.pop(0) if self.script else "accept"
            threading.Thread(target=self._serve, args=(conn, step), daemon=True).start()

    def _serve(self, conn: socket.socket, step: str) -> None:
        with conn:
            if step == "hang":
                self._stop.wait(30)
                return
            reader = conn.makefile("rb")

            def say(line: str) -> None:
                conn.sendall(line.encode() + b"\r\n")

            say("220 fake.test ESMTP")
            while True:
                line = reader.readline()
                if not line:
                    return
                verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    say("250 fake.test")
                elif verb == "MAIL" and step != "accept":
                    say(f"{step} {'try again later' if step.startswith('4') else 'mailbox unavailable'}")
                    if step == "421":
                        return
                elif verb == "DATA":
                    say("354 go ahead")
                    data = []
                    while (chunk := reader.readline()) not in (b".\r\n", b""):
                        data.append(chunk)
                    self.messages.append(b"".join(data))
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 ok")
