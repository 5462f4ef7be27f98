"""Checks of the Content-Security-Policy header (core/csp.py) that several test modules share."""

import re

HEADER = "Content-Security-Policy"


def policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response[HEADER].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_own_origin_only(response, *, socket: str = "ws://testserver") -> None:
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["connect-src"] == ["'self'", socket]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    assert not re.search(r"unsafe-|\*|https?:", response[HEADER])
