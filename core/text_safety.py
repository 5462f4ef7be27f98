"""Caller text that may appear in what we send: a first name to greet, and a subject to echo.
Nothing else a caller wrote is echoed into an automatic reply (docs/reliability.md, "Reply
policy"): a subject like "Your account is locked, verify at https://evil.example" must not go out
from our address with the link in it.

Every pattern here runs in linear time on untrusted text: the text is split into tokens first,
and each pattern is anchored and bounded on one token."""

import re
import unicodedata

SUBJECT_MAX = 80
FIRST_NAME_MAX = 30

# A token that starts with a dotted host name ending in a top-level domain ("evil.example",
# "evil.example/verify"); schemes, "www." and "@" are found without a pattern (`_linkish`).
# Also what orchestration/reply_safety.py finds host names in a reply with.
HOST = re.compile(r"(?i)(?<![\w@.-])(?:[a-z0-9-]{1,63}\.){1,10}[a-z]{2,24}(?![\w@-])")
_NAME_CHARS = re.compile(r"[^\W\d_]|['\u2019.-]")


def _linkish(token: str) -> bool:
    """Whether a token is, or carries, a link or an address."""
    lowered = token.lower()
    return "@" in token or "://" in token or lowered.startswith("www.") or bool(HOST.match(token))


def _visible(text: str) -> str:
    """Without control, format (bidi overrides, zero-width) and other invisible characters."""
    return "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)


def _token_core(token: str) -> str:
    return token.strip("()[]{}<>\"'.,;:!?\u201c\u201d\u2018\u2019")


def safe_subject(subject: str) -> str:
    """The subject as an automatic reply may echo it: without links, addresses or control
    characters, whitespace collapsed, at most SUBJECT_MAX characters (cut at a word)."""
    kept = [token for token in _visible(subject[:5000]).split() if not _linkish(_token_core(token))]
    text = " ".join(kept)
    if len(text) > SUBJECT_MAX:
        text = text[:SUBJECT_MAX + 1].rsplit(" ", 1)[0] if " " in text[:SUBJECT_MAX + 1] else text[:SUBJECT_MAX]
        text = text.rstrip(" ,;:-")[:SUBJECT_MAX]
    return text.strip()


def safe_first_name(name: str) -> str:
    """The first name to greet: the first word of the sender's name if it is a plain name
    (letters, apostrophes, hyphens, a dot), else "there"."""
    words = _visible(name[:500]).split()
    first = words[0] if words else ""
    if not first or len(first) > FIRST_NAME_MAX or _linkish(first):
        return "there"
    if not all(_NAME_CHARS.fullmatch(ch) for ch in first) or not any(ch.isalpha() for ch in first):
        return "there"
    return first


def has_link(text: str) -> bool:
    """Whether the text carries a link or an address (a subject should not: see safe_subject)."""
    return any(_linkish(_token_core(token)) for token in _visible(text[:5000]).split())
