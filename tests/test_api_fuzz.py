"""Property-based fuzzing of our own OpenAPI document (schemathesis) against the live web tier:
no 500, and no response that contradicts the documented status codes and schemas.

Schemathesis' pytest plugin does not run under pytest 9, so each operation's Hypothesis strategy
is driven from a plain test instead (the same checks as `call_and_validate` in the plugin)."""

import uuid
from datetime import UTC

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from inquiries.api.v1 import pagination
from testutils.inquiries import ADMIN, KEY

pytestmark = pytest.mark.services

EXAMPLES_PER_OPERATION = 60
# A list cursor is valid only as the API gave it out (a malformed one is a documented 422): the
# document marks it with its own format, and the fuzzer sends cursors of that format.
schemathesis.openapi.format(pagination.CURSOR_FORMAT, st.builds(
    pagination.encode, st.datetimes(timezones=st.just(UTC)), st.uuids()))


def _operations(live):
    schema = schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_documented_operation_is_fuzzed(live):
    labels = sorted(operation.label for operation in _operations(live))
    assert labels == [
        "DELETE /api/v1/runs/{run_id}", "GET /api/v1/runs", "GET /api/v1/runs/{run_id}",
        "GET /api/v1/stats", "GET /api/v1/status/{run_id}", "GET /api/v1/status/{run_id}/steps",
        "POST /api/v1/webhook",
    ]


@pytest.mark.parametrize("label", [
    "POST /api/v1/webhook", "GET /api/v1/status/{run_id}", "GET /api/v1/status/{run_id}/steps",
    "GET /api/v1/runs", "GET /api/v1/runs/{run_id}", "DELETE /api/v1/runs/{run_id}", "GET /api/v1/stats",
])
def test_operation_conforms_to_the_document(live, label):
    [operation] = [op for op in _operations(live) if op.label == label]
    calls = []

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def check(case):
        if case.headers and "Idempotency-Key" in case.headers:
            # Reusing a key with another body is a documented 422; keep each generated key unique.
            case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key'][:200]}-{uuid.uuid4().hex}"
        response = case.call_and_validate(headers={**KEY, **ADMIN}, timeout=15)
        calls.append(response.status_code)

    check()
    assert calls, "no request was sent"
    assert all(code < 500 for code in calls)


def test_stateful_sequences_follow_the_links_and_conform(live):
    """Schemathesis' stateful phase: webhook → status, steps, run, delete of the run_id it returned
    (the OpenAPI links of the webhook's 200), with every response checked against the document —
    including `use_after_free` (a deleted run must be 404 afterwards) and
    `ensure_resource_availability` (a created run must be readable at once)."""
    schema = schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")
    base = schema.as_state_machine()
    calls: list[tuple[str, int]] = []
    failures: list[str] = []

    class Sequences(base):
        def before_call(self, case):
            if case.headers and "Idempotency-Key" in case.headers:
                case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key'][:200]}-{uuid.uuid4().hex}"

        def get_call_kwargs(self, case):
            return {"headers": {**KEY, **ADMIN}, "timeout": 15}

        def after_call(self, response, case):
            super().after_call(response, case)  # the recorder that the stateful checks read
            calls.append((case.operation.label, response.status_code))

        def step(self, input):
            try:
                return super().step(input)
            except Exception as exc:
                failures.append(f"{input.case.operation.label}: {exc}")
                raise

    # A sequence's bundles hold what the live server answered, so Hypothesis cannot replay a failing
    # sequence exactly: its replay and shrinking then report "inconsistent data generation" instead
    # of the failure. Generate only, and report the first failure as it was seen.
    try:
        Sequences.run(settings=settings(max_examples=25, stateful_step_count=6, deadline=None,
                                        suppress_health_check=list(HealthCheck), database=None,
                                        phases=[Phase.generate]))
    except Exception:
        if not failures:
            raise
    assert not failures, failures[0]
    assert all(code < 500 for _, code in calls)
    followed = {label for label, code in calls if code == 200 and "{run_id}" in label}
    assert len(followed) >= 3, sorted(set(calls))  # links were followed with real run ids
