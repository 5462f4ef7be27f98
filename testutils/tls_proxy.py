"""A TLS-terminating nginx in front of a web tier, where a load balancer would stand in
production: it holds a self-signed certificate for 127.0.0.1 and localhost, appends the peer it
saw to `X-Forwarded-For` and says `X-Forwarded-Proto: https` (tests/test_tls_proxy.py).

    with tls_proxy(folder, web.port) as proxy:
        with proxy.client(local_address="127.0.0.2") as client:   # verifies the certificate
            client.get("/console/login/")

Started like the web tier's own processes (scripts/pids.py's spawn: its own process group,
registered, dying with this process), and stopped on leaving the block, whatever happened in it.
"""

import contextlib
import datetime
import ipaddress
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx

from scripts import pids
from scripts.common import free_port, hand_over, port_open, service_user
from scripts.web import find_nginx

CONF = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{user_line}
events {{ worker_connections 512; }}

http {{
    access_log off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;

    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {folder}/cert.pem;
        ssl_certificate_key {folder}/key.pem;

        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""


def self_signed_certificate(folder: Path) -> Path:
    """cert.pem and key.pem in `folder`, for 127.0.0.1 and localhost; returns the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AutoFlow test proxy")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        # What OpenSSL's strict verification (Python 3.13's default) wants of a trust anchor.
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "key.pem").chmod(0o600)
    cert = folder / "cert.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert


class TlsProxy:
    def __init__(self, folder: Path, upstream_port: int):
        self.folder = Path(folder)
        self.upstream_port = upstream_port
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.cert: Path | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> None:
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        self.cert = self_signed_certificate(self.folder)
        user = service_user()
        conf = self.folder / "nginx.conf"
        conf.write_text(CONF.format(folder=self.folder, user_line=f"user {user};" if user else "", port=self.port,
                                    upstream_port=self.upstream_port))
        hand_over(self.folder / "tmp")
        self.process = pids.spawn([find_nginx(), "-c", str(conf), "-p", str(self.folder), "-e",
                                   str(self.folder / "error.log")], label="tls-proxy", stop_signal=signal.SIGQUIT,
                                  die_with_parent=True, cwd=self.folder, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            status = pids.exited(self.process)
            if status is not None or time.monotonic() > deadline:
                log = (self.folder / "error.log").read_text() if (self.folder / "error.log").exists() else ""
                raise RuntimeError(f"the TLS proxy did not start (exit {status}): {log[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            pids.stop_children([(self.process, signal.SIGQUIT)], timeout=10)
            self.process = None

    def client(self, *, local_address: str | None = None, **kwargs) -> httpx.Client:
        """An HTTPS client that trusts only this proxy's certificate, connecting from
        `local_address` (another loopback address is another client)."""
        context = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(verify=context, local_address=local_address)
        return httpx.Client(base_url=self.url, transport=transport, timeout=kwargs.pop("timeout", 15), **kwargs)


@contextlib.contextmanager
def tls_proxy(folder: Path, upstream_port: int):
    proxy = TlsProxy(folder, upstream_port)
    try:
        proxy.start()
        yield proxy
    finally:
        proxy.stop()
