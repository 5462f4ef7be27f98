"""Checks of the Content-Security-Policy header (core/csp.py) that several test modules share, and
a browser context that reports every violation of its pages to the test."""

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


# Reports every Content-Security-Policy violation of a page to the test (window.__cspViolation).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolation(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


def watched_context(browser, base_url: str, **options):
    """A Playwright browser context whose pages report every CSP violation (and every console
    message about the policy) into `context.csp_violations`."""
    context = browser.new_context(base_url=base_url, **options)
    context.csp_violations = violations = []
    context.expose_function("__cspViolation", lambda text: violations.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", lambda message: violations.append(message.text)
               if "Content Security Policy" in message.text else None)
    return context
