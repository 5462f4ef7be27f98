"""The web tier's nginx configuration (scripts/web.py), written from the environment of the tier:
TRUSTED_PROXIES (whose X-Forwarded-* count, as for the app: core/client_ip.py), WEB_NGINX_WORKERS,
WEB_CONN_LIMIT, WEB_REQ_RATE, WEB_REQ_BURST, WEBHOOK_MAX_BODY_BYTES, WEBSOCKET_HEARTBEAT_SECONDS."""

import re
from pathlib import Path

from core.client_ip import LOOPBACK, proxy_networks
from scripts.common import ServiceError

NGINX_CONF = """\
worker_processes {workers};
daemon off;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;
{user_line}
events {{ worker_connections 4096; }}

http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {run_dir}/tmp/body;
    proxy_temp_path {run_dir}/tmp/proxy;
    fastcgi_temp_path {run_dir}/tmp/fastcgi;
    uwsgi_temp_path {run_dir}/tmp/uwsgi;
    scgi_temp_path {run_dir}/tmp/scgi;

    # Backstops only: the app answers its own, smaller cap (WEBHOOK_MAX_BODY_BYTES) with a 413.
    client_max_body_size {max_body};
    client_body_buffer_size 128k;
    large_client_header_buffers 4 16k;
    # Idle timeouts: a client that stalls is cut off (408 or closed) and its connection freed.
    client_header_timeout 15s;
    client_body_timeout 15s;
    send_timeout 30s;
    keepalive_timeout 30s;

    # The client: X-Forwarded-For counts only when the peer is a trusted proxy (TRUSTED_PROXIES,
    # and loopback), read right to left past the trusted ones; $remote_addr is then the client.
{real_ip_from}
    real_ip_header X-Forwarded-For;
    real_ip_recursive on;
    # Its scheme: a trusted proxy's X-Forwarded-Proto (http or https only), else our own.
    geo $realip_remote_addr $autoflow_trusted_peer {{
        default 0;
{trusted_peers}
    }}
    map "$autoflow_trusted_peer:$http_x_forwarded_proto" $autoflow_forwarded_proto {{
        default $scheme;
        "1:https" https;
        "1:http" http;
    }}

    # Per client address: requests in progress (WEB_CONN_LIMIT), and a rate (WEB_REQ_RATE) with
    # WEB_REQ_BURST requests of excess allowed at once; beyond either, 429 in the envelope. This
    # machine's own clients (127.0.0.1, ::1: probes, tests, benchmarks) are not counted; clients
    # behind a trusted proxy are, each by its own address.
    map $remote_addr $autoflow_limit_key {{
        default $binary_remote_addr;
        127.0.0.1 "";
        ::1 "";
    }}
    limit_conn_zone $autoflow_limit_key zone=autoflow_conn:10m;
    limit_req_zone $autoflow_limit_key zone=autoflow_req:10m rate={req_rate};
    limit_conn_status 429;
    limit_req_status 429;

    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}

    upstream autoflow_http {{ server 127.0.0.1:{http_port}; }}
    upstream autoflow_ws {{ server 127.0.0.1:{ws_port}; }}

    server {{
        listen {listen};

        location ~ ^/(api/v1/ws|ws)/ {{
            limit_conn autoflow_conn {conn_limit};
            limit_req zone=autoflow_req burst={req_burst} nodelay;
            proxy_pass http://autoflow_ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $autoflow_forwarded_proto;
            proxy_set_header X-Forwarded-Host "";
            # Idle limit of a socket: well above the app's heartbeat (WEBSOCKET_HEARTBEAT_SECONDS).
            proxy_read_timeout {ws_idle}s;
            proxy_send_timeout {ws_idle}s;
        }}

        location / {{
            limit_conn autoflow_conn {conn_limit};
            limit_req zone=autoflow_req burst={req_burst} nodelay;
            proxy_pass http://autoflow_http;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $autoflow_forwarded_proto;
            proxy_set_header X-Forwarded-Host "";
            proxy_read_timeout 60s;
        }}

        error_page 502 503 504 = @unavailable;
        error_page 413 = @too_large;
        error_page 400 494 = @bad_request;
        error_page 429 = @rate_limited;

        location @unavailable {{
            default_type application/json;
            add_header X-Request-ID $request_id always;
            add_header Retry-After 5 always;
            return 503 '{{"error":"service_unavailable","message":"AutoFlow is starting or restarting; nothing was stored. Retry shortly.","details":[],"request_id":"$request_id"}}';
        }}
        location @too_large {{
            default_type application/json;
            add_header X-Request-ID $request_id always;
            return 413 '{{"error":"payload_too_large","message":"The request body is too large.","details":[],"request_id":"$request_id"}}';
        }}
        location @bad_request {{
            default_type application/json;
            add_header X-Request-ID $request_id always;
            return 400 '{{"error":"bad_request","message":"The request is malformed or its headers are too large.","details":[],"request_id":"$request_id"}}';
        }}
        location @rate_limited {{
            default_type application/json;
            add_header X-Request-ID $request_id always;
            add_header Retry-After 1 always;
            return 429 '{{"error":"rate_limited","message":"Too many requests or connections from your address; slow down and retry.","details":[],"request_id":"$request_id"}}';
        }}
    }}
}}
"""

# Per client address, unless the environment says otherwise: generous for a browser (a console
# page and its assets) or an integration. Loopback is not counted, so the tests and bench/, which
# drive one tier from 127.0.0.1 at up to ~1,000 requests/s, never meet them.
LIMIT_DEFAULTS = {"WEB_CONN_LIMIT": "100", "WEB_REQ_RATE": "100", "WEB_REQ_BURST": "200"}


def _trusted_networks(env: dict[str, str]) -> list[str]:
    """TRUSTED_PROXIES of `env` (the app's default when unset) and loopback, as CIDRs."""
    entries = env.get("TRUSTED_PROXIES", "127.0.0.1/32,::1/128").split(",")
    try:
        networks = [*LOOPBACK, *proxy_networks(entries)]
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return list(dict.fromkeys(str(network) for network in networks))


def _processes_and_limits(env: dict[str, str]) -> dict[str, str]:
    values = {name: env.get(name, "").strip() or default for name, default in LIMIT_DEFAULTS.items()}
    rate = values["WEB_REQ_RATE"]
    if re.fullmatch(r"[1-9][0-9]{0,8}", rate):
        rate += "r/s"
    if not re.fullmatch(r"[1-9][0-9]{0,8}r/[sm]", rate):
        raise ServiceError(f"WEB_REQ_RATE={rate!r}: give requests per second (200) or N r/s, N r/m")
    for name in ("WEB_CONN_LIMIT", "WEB_REQ_BURST"):
        if not re.fullmatch(r"[0-9]+", values[name]) or (name == "WEB_CONN_LIMIT" and values[name] == "0"):
            raise ServiceError(f"{name}={values[name]!r}: give a whole number (WEB_CONN_LIMIT at least 1)")
    workers = env.get("WEB_NGINX_WORKERS", "").strip() or "auto"
    if not re.fullmatch(r"auto|[1-9][0-9]*", workers):
        raise ServiceError(f"WEB_NGINX_WORKERS={workers!r}: give auto (one per CPU) or a number")
    return {"req_rate": rate, "conn_limit": values["WEB_CONN_LIMIT"], "req_burst": values["WEB_REQ_BURST"],
            "workers": workers}


def render(env: dict[str, str], *, run_dir: Path, user: str | None, listen: str, http_port: int,
           ws_port: int) -> str:
    """nginx.conf for a tier listening on `listen` in front of gunicorn and daphne; ServiceError
    names a setting of `env` that makes no sense."""
    trusted = _trusted_networks(env)
    heartbeat = int(env.get("WEBSOCKET_HEARTBEAT_SECONDS") or 20)
    return NGINX_CONF.format(
        run_dir=run_dir, user_line=f"user {user};" if user else "", listen=listen,
        http_port=http_port, ws_port=ws_port,
        max_body=f"{max(int(env.get('WEBHOOK_MAX_BODY_BYTES', 65536)) * 4, 1 << 20)}",
        real_ip_from="\n".join(f"    set_real_ip_from {network};" for network in trusted),
        trusted_peers="\n".join(f"        {network} 1;" for network in trusted),
        ws_idle=max(60, 3 * heartbeat), **_processes_and_limits(env),
    )
