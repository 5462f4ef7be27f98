"""Intake rules that need settings changed per test: signatures, rate limits, open mode, and the
one-transaction guarantee. In-process (Django's test client) against the real PostgreSQL and Redis."""

import base64
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

from core.client_ip import proxy_networks
from core.redis_client import get_redis, reset_redis_pool
from inquiries.api.v1.auth import forget_cached_clients
from inquiries.api.v1.signatures import SignatureError, verify_signature
from inquiries.models import IdempotencyRecord, Inquiry, Run, RunEvent
from testutils.inquiries import inquiry
from testutils.signing import sign

pytestmark = pytest.mark.django_db

# The Standard Webhooks specification's published test vector.
VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": "1614265330",
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()


@pytest.fixture(autouse=True)
def _clean_hot_plane():
    """Each test starts with empty rate-limit counters and caches."""
    get_redis().flushdb()
    forget_cached_clients()
    yield
    reset_redis_pool()


def post(client, body: bytes | dict | None = None, *, peer: str = "127.0.0.1", **headers):
    """`peer`: the address the request comes from (REMOTE_ADDR); 127.0.0.1 is our own nginx."""
    data = body if isinstance(body, bytes) else json.dumps(body or inquiry())
    return client.post("/api/v1/webhook", data=data, content_type="application/json", REMOTE_ADDR=peer,
                       headers={k.replace("_", "-"): v for k, v in headers.items()})


# --- Signatures ------------------------------------------------------------------------------------

def _vector(**changes):
    args = {"secrets": [VECTOR["secret"]], "body": VECTOR["body"], "msg_id": VECTOR["msg_id"],
            "timestamp": VECTOR["timestamp"], "signature": VECTOR["signature"], "now": 1614265330}
    args.update(changes)
    return verify_signature(**args)


def test_the_specification_vector_verifies():
    assert _vector() == VECTOR["msg_id"]
    assert _vector(secrets=[VECTOR["secret"].removeprefix("whsec_")]) == VECTOR["msg_id"]


@pytest.mark.parametrize(
    "changes",
    [
        {"body": b'{"test": 2432232315}'},                      # one digit tampered
        {"body": b'{"test":2432232314}'},                       # re-serialised JSON
        {"msg_id": "msg_other"},
        {"timestamp": "1614265331"},
        {"secrets": [SECRET_A]},
        {"signature": "v1a," + VECTOR["signature"][3:]},        # unknown version only
        {"signature": "v1,not-base64!"},
        {"signature": None}, {"msg_id": None}, {"timestamp": None},
        {"msg_id": "msg.with.dots"}, {"msg_id": "m" * 256},
        {"timestamp": "yesterday"},
        {"now": 1614265330 + 301}, {"now": 1614265330 - 301},
        {"body": b"\xff\xfe not utf-8"},
    ],
)
def test_anything_else_is_refused(changes):
    with pytest.raises(SignatureError):
        _vector(**changes)


def test_tolerance_is_five_minutes_both_ways():
    assert _vector(now=1614265330 + 299) == VECTOR["msg_id"]
    assert _vector(now=1614265330 - 299) == VECTOR["msg_id"]


def test_any_valid_v1_among_several_is_enough_and_two_secrets_rotate():
    body = b'{"a": 1}'
    good = sign(SECRET_B, "msg_1", 1_700_000_000, body)
    several = f"v1,{base64.b64encode(b'x' * 32).decode()} v2,abc {good}"
    assert verify_signature(secrets=[SECRET_A, SECRET_B], body=body, msg_id="msg_1",
                            timestamp="1700000000", signature=several, now=1_700_000_000) == "msg_1"
    with pytest.raises(SignatureError):
        verify_signature(secrets=[SECRET_A], body=body, msg_id="msg_1", timestamp="1700000000",
                         signature=several, now=1_700_000_000)


@pytest.fixture
def signed(settings):
    settings.WEBHOOK_SIGNING_SECRET = f"{SECRET_A},{SECRET_B}"
    return settings


def _signed_headers(body: bytes, *, secret=SECRET_A, msg_id=None, at=None) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = int(time.time()) if at is None else at
    return {"webhook_id": msg_id, "webhook_timestamp": str(at), "webhook_signature": sign(secret, msg_id, at, body)}


def test_signed_intake_accepts_and_webhook_id_is_the_idempotency_key(client, signed):
    body = json.dumps(inquiry()).encode()
    headers = _signed_headers(body, secret=SECRET_B)
    first = post(client, body, **headers)
    assert first.status_code == 200, first.content
    again = post(client, body, **headers)  # the sender's retry, inside the tolerance window
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["idempotent_replay"] is True
    assert IdempotencyRecord.objects.get().key == headers["webhook_id"]


def test_signed_intake_refuses_bad_or_stale_signatures_before_storing(client, signed):
    body = json.dumps(inquiry()).encode()
    cases = [
        {},                                                                     # unsigned
        _signed_headers(body + b" "),                                            # body changed
        _signed_headers(body, secret="whsec_" + base64.b64encode(b"z" * 32).decode()),
        _signed_headers(body, at=int(time.time()) - 600),                        # replayed 10 min later
        _signed_headers(body, at=int(time.time()) + 600),
    ]
    for headers in cases:
        response = post(client, body, **headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "invalid_signature"
        assert response.json()["message"] == "The webhook signature is missing or invalid."
    assert Run.objects.count() == 0


# --- Open mode, keys ----------------------------------------------------------------------------------

def test_without_a_configured_key_intake_and_reads_are_open(client, settings):
    settings.WEBHOOK_API_KEY = ""
    accepted = post(client)
    assert accepted.status_code == 200
    assert client.get(f"/api/v1/status/{accepted.json()['run_id']}").status_code == 200
    assert RunEvent.objects.filter(type="received").get().actor_label == "api:anonymous"


def test_a_staff_session_may_read_but_not_write(client, settings, operator):
    settings.WEBHOOK_API_KEY = "wk_configured"
    run_id = post(client, X_API_Key="wk_configured").json()["run_id"]
    assert client.get(f"/api/v1/status/{run_id}").status_code == 401
    client.force_login(operator)
    assert client.get(f"/api/v1/status/{run_id}").status_code == 200
    assert client.get("/api/v1/runs").status_code == 200
    assert post(client).status_code == 401


def test_revoking_an_api_client_takes_effect(client, settings):
    from inquiries.services import api_client_create, api_client_set_active

    settings.WEBHOOK_API_KEY = "wk_configured"
    api_client, raw = api_client_create(name="HubSpot")
    assert post(client, X_API_Key=raw).status_code == 200
    api_client_set_active(client=api_client, active=False)
    forget_cached_clients()  # in production the process cache expires within 10 s
    assert post(client, X_API_Key=raw).status_code == 401


# --- Rate limits ----------------------------------------------------------------------------------

def test_per_ip_limit_answers_429_with_headers(client, settings):
    settings.WEBHOOK_RATE_LIMIT = "3/m"
    settings.WEBHOOK_API_KEY = ""
    answers = [post(client) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    limited = answers[3]
    assert limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["RateLimit-Limit"] == "3"
    assert limited["RateLimit-Remaining"] == "0"
    assert Run.objects.count() == 3


def test_the_client_ip_is_the_address_our_proxy_saw_not_what_the_client_wrote(client, settings):
    settings.WEBHOOK_RATE_LIMIT = "2/m"
    settings.WEBHOOK_API_KEY = ""
    # Our nginx (127.0.0.1, trusted) sends the client it saw as the last X-Forwarded-For hop;
    # what a client put left of it, or in X-Real-IP, counts for nothing.
    spoofed = [post(client, X_Forwarded_For=f"10.0.0.{n}, 203.0.113.7", X_Real_IP=f"10.1.0.{n}").status_code
               for n in range(3)]
    assert spoofed == [200, 200, 429]
    # Another client behind our proxy has its own bucket.
    assert post(client, X_Forwarded_For="203.0.113.8").status_code == 200
    # From a peer that is not a trusted proxy, X-Forwarded-For is ignored: the peer is the client.
    untrusted = [post(client, peer="198.51.100.50", X_Forwarded_For=f"203.0.113.{n}").status_code
                 for n in (20, 21, 22)]
    assert untrusted == [200, 200, 429]
    # A proxy named in TRUSTED_PROXIES (a CIDR) is believed like ours.
    settings.TRUSTED_PROXIES = proxy_networks(["198.51.100.0/24"])
    assert post(client, peer="198.51.100.50", X_Forwarded_For="203.0.113.30").status_code == 200


def test_per_key_limit_with_a_client_override(client, settings):
    from inquiries.services import api_client_create

    settings.WEBHOOK_RATE_LIMIT = "100/m"
    _, raw = api_client_create(name="Small plan", rate_limit="2/m")
    codes = [post(client, X_API_Key=raw, X_Forwarded_For=f"198.51.100.{n}").status_code for n in range(3)]
    assert codes == [200, 200, 429]


def test_rate_limits_fail_open_when_redis_is_down(client, settings):
    settings.WEBHOOK_RATE_LIMIT = "1/m"
    settings.WEBHOOK_API_KEY = ""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}}
    reset_redis_pool()
    codes = [post(client).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    assert client.get("/health").json()["rate_limiting"] == "fail_open"


# --- One transaction ------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_failure_inside_the_transaction_leaves_nothing_behind(client, settings, monkeypatch):
    settings.WEBHOOK_API_KEY = ""

    from inquiries.services import intake as services

    real = services._intake_sql

    def fail_after_the_task_row(**kwargs):
        assert OrmQ.objects.count() == 1  # the task row is already written in this transaction
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "_intake_sql", fail_after_the_task_row)
    client.raise_request_exception = False
    response = post(client, Idempotency_Key="k-atomic")
    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert (Run.objects.count(), Inquiry.objects.count(), IdempotencyRecord.objects.count(),
            OrmQ.objects.count()) == (0, 0, 0, 0)
    monkeypatch.setattr(services, "_intake_sql", real)
    assert post(client, Idempotency_Key="k-atomic").json()["idempotent_replay"] is False


@pytest.mark.django_db(transaction=True)
def test_the_queued_task_is_committed_with_the_run(client, settings):
    settings.WEBHOOK_API_KEY = ""
    run_id = post(client).json()["run_id"]
    [task] = OrmQ.objects.all()
    assert task.task["args"] == (run_id,)
    assert task.task["func"] == "orchestration.tasks.run_execute"
    assert Run.objects.get().q_task_id == task.task["id"]


def test_no_exception_text_in_production(client, settings, monkeypatch):
    settings.WEBHOOK_API_KEY = ""
    monkeypatch.setattr("inquiries.services.inquiry_accept", lambda **kw: 1 / 0)
    client.raise_request_exception = False
    settings.APP_ENV = "production"
    body = post(client).json()
    assert body["error"] == "internal_error"
    assert "ZeroDivision" not in body["message"]
    settings.APP_ENV = "development"
    assert "ZeroDivisionError" in post(client).json()["message"]


@pytest.mark.django_db(transaction=True)
def test_the_lock_wait_bound_stays_inside_the_intake_transaction(client, settings):
    settings.WEBHOOK_API_KEY = ""
    post(client, Idempotency_Key="k-lock")
    with connection.cursor() as cursor:
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"  # SET LOCAL stays inside the intake transaction


def test_an_expired_key_starts_a_new_run_and_the_claim_moves_to_it(client, settings):
    settings.WEBHOOK_API_KEY = ""
    first = post(client, Idempotency_Key="k-expiring").json()["run_id"]
    IdempotencyRecord.objects.filter(key="k-expiring").update(expires_at=timezone.now() - timedelta(seconds=1))
    get_redis().flushdb()  # the cache entry expires with the claim
    second = post(client, Idempotency_Key="k-expiring").json()
    assert second["idempotent_replay"] is False
    assert second["run_id"] != first
    record = IdempotencyRecord.objects.get(key="k-expiring")
    assert str(record.run_id) == second["run_id"]
    assert record.expires_at > timezone.now()
    assert Run.objects.filter(pk=first).exists()  # the old run stays; only the key moved on


@pytest.mark.django_db(transaction=True)
def test_a_key_held_by_a_stuck_request_answers_409_after_the_bounded_wait(client, settings):
    import psycopg

    settings.WEBHOOK_API_KEY = ""
    # Another request's claim on the same key, not committed (a request stuck mid-transaction).
    held = psycopg.connect(**connection.get_connection_params())
    # Without a bounded wait the request would block for good: give up the claim after 10 s so that
    # such a regression fails (200 after 10 s) instead of hanging the suite.
    safety = threading.Timer(10, held.close)
    safety.start()
    try:
        held.execute(
            "INSERT INTO inquiries_idempotencyrecord (scope, key, fingerprint, run_id, created_at, expires_at) "
            "VALUES ('anonymous', 'k-held', %s, %s, now(), now() + interval '1 day')",
            ["0" * 64, uuid.uuid4()],
        )
        started = time.monotonic()
        response = post(client, Idempotency_Key="k-held")
        waited = time.monotonic() - started
    finally:
        safety.cancel()
        if not held.closed:
            held.rollback()
            held.close()
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_key_in_progress"
    assert response["Retry-After"] == "1"
    assert 1.5 < waited < 10  # lock_timeout is 2 s
    assert Run.objects.count() == 0
    assert post(client, Idempotency_Key="k-held").status_code == 200  # free once the other gave up
