"""Domain errors know nothing of HTTP; the API's one table answers each that may reach it."""

import pytest

from inquiries import errors
from inquiries.api.v1.errors import ANSWERS


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_domain_error_but_the_consoles_own_has_an_answer():
    assert set(_subclasses(errors.DomainError)) - set(ANSWERS) == {errors.ActionRefused}


@pytest.mark.parametrize(("error", "status", "headers"), [
    (errors.PayloadTooLarge(limit=10), 413, {}),
    (errors.Unauthorized(key_header="X-Admin-Key"), 401, {"WWW-Authenticate": 'ApiKey header="X-Admin-Key"'}),
    (errors.RateLimited(limit=60, remaining=0, reset=7), 429,
     {"RateLimit-Limit": "60", "RateLimit-Remaining": "0", "RateLimit-Reset": "7", "Retry-After": "7"}),
    (errors.IdempotencyKeyInProgress(retry_after=1), 409, {"Retry-After": "1"}),
    (errors.IdempotencyKeyReused(), 422, {}),
])
def test_the_table_gives_the_documented_status_and_headers(error, status, headers):
    answer = ANSWERS[type(error)]
    assert (answer.status, answer.headers(error)) == (status, headers)
    assert not hasattr(error, "status")  # no HTTP in the domain
