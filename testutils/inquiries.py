"""Inquiry payloads for the webhook (docs/api.md) and the error envelope every error answers with."""

import json

import httpx

from scripts.common import REPO
from testutils.live import LiveStack

KEY = {"X-API-Key": LiveStack.WEBHOOK_KEY}
ADMIN = {"X-Admin-Key": LiveStack.ADMIN_KEY}
ENVELOPE_KEYS = {"error", "message", "details", "request_id"}

# Labelled inquiries held out of the classifier's training (tests/data/), as realistic traffic.
SAMPLES = [json.loads(line) for line in (REPO / "tests/data/holdout_inquiries.jsonl").read_text().splitlines()]


def inquiry(**overrides) -> dict:
    body = {"sender_name": "Ada Lovelace", "sender_email": "ada@example.com", "subject": "Pricing for 40 seats",
            "body": "Hello, what would the Growth plan cost us for 40 seats, billed annually?",
            "metadata": {"crm_id": "0031x00000ABC", "form": "contact"}}
    body.update(overrides)
    return body


def sample_inquiry(n: int) -> dict:
    """The n-th of a stream of distinct, realistic inquiries (bench/ and chaos/ send these)."""
    sample = SAMPLES[n % len(SAMPLES)]
    return {"sender_name": f"Bench {n}", "sender_email": f"bench{n}@example.com",
            "subject": sample["subject"] or "Question", "body": sample["body"]}


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error"] == code
    assert body["request_id"] == response.headers["x-request-id"]
    return body
