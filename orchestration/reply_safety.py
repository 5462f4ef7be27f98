"""What an automatic reply may say, checked before it goes out unattended (docs/reliability.md,
"Reply policy"):

- `injection_signals`: inquiry text that tries to instruct the model (role changes, "ignore
  previous instructions", requests to put links in the reply or to promise money). Such a run
  escalates (`suspected_injection`) instead of sending: on Ollama the text could have steered
  the reply, on either engine its sender is probing us.
- `grounding_failures`: each URL, host name, e-mail address, phone number and money amount in
  a reply must appear in the run's context (the knowledge-base articles used, the company
  settings, the run's own facts), never only in what the caller wrote. A reply with one that
  does not is held as a draft (`reply_unverified`), and the operator sees which.

Every pattern runs in linear time on untrusted text: bounded quantifiers, and gaps written as
bounded runs of one character class."""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.text_safety import HOST, has_link
from inquiries import selectors

_GAP = r"[^.!?\n]{0,60}"  # a few words within one sentence
INJECTION_PATTERNS: dict[str, re.Pattern] = {
    "ignore previous instructions": re.compile(
        r"(?i)\b(?:ignore|disregard|forget|override)\b" + _GAP
        + r"\b(?:instructions?|rules|prompts?|guidelines|directions)\b"),
    "role change": re.compile(
        r"(?i)\b(?:you\s{1,5}are\s{1,5}now|act\s{1,5}as\s{1,5}(?:an?\s{1,5}|the\s{1,5})?(?:admin|administrator|system|"
        r"developer|assistant|ai|bot|model)|pretend\s{1,5}(?:to\s{1,5}be|you\s{1,5}are)|(?:admin|developer|god|"
        r"debug)\s{1,5}mode|new\s{1,5}instructions|priority\s{1,5}override)\b"),
    "role marker": re.compile(r"(?im)^[ \t#>*]{0,10}(?:system|assistant|developer)\s{0,5}:"),
    "fake delimiter": re.compile(r"(?i)</?\s{0,5}(?:inquiry|context|articles|system|instructions?|prompt)\s{0,5}>"),
    "asks for our instructions": re.compile(
        r"(?i)\b(?:print|reveal|show|repeat|output|tell\s{1,5}me)\b" + _GAP
        + r"\b(?:system\s{1,5}prompt|your\s{1,5}(?:instructions|rules|prompt))\b"),
    "steers the routing": re.compile(
        r"(?i)\b(?:classify|categori[sz]e|route|label|mark)\s{1,5}(?:this|it|me|the\s{1,5}message)\s{1,5}as\b"),
    "asks for a link in the reply": re.compile(
        r"(?i)\b(?:include|add|insert|put|paste|append)\b" + _GAP + r"\b(?:link|url|website|hyperlink)s?\b"),
    "asks to promise money": re.compile(
        r"(?i)\b(?:confirm|promise|guarantee|approve|approved|issue|grant|reply\s{1,5}that)\b" + _GAP
        + r"\b(?:refunds?|credits?|compensation|payments?|money|reimbursement)\b"),
}


def injection_signals(subject: str, body: str) -> list[str]:
    """The kinds of instruction-giving found in an inquiry (empty: none). A link or an address in
    the subject counts too: a subject is what an auto-reply would echo, so one that carries a
    link is a bid to have us send it (phishing from our address)."""
    text = f"{subject}\n{body}"
    found = [name for name, pattern in INJECTION_PATTERNS.items() if pattern.search(text)]
    return found + (["link in the subject"] if has_link(subject) else [])


# --- Grounding ----------------------------------------------------------------------------------

_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'()\[\]]{1,2048}")
_EMAIL = re.compile(r"(?i)(?<![\w.+-])[\w.+-]{1,64}@(?:[a-z0-9-]{1,63}\.){1,10}[a-z]{2,24}(?![\w-])")
_PHONE = re.compile(r"(?<![\w+])\+?\d(?:[ ().-]{0,2}\d){6,15}(?!\w)")
_MONEY = re.compile(
    r"(?i)(?:[$€£¥]\s{0,2}\d{1,12}(?:[.,]\d{1,3}){0,4}(?:\s{0,2}[km]\b)?"
    r"|(?<![\w.,])\d{1,12}(?:[.,]\d{1,3}){0,4}\s{0,2}(?:k\s{0,2})?(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)")
_TRAILING = ".,;:!?)\"'"


@dataclass(frozen=True)
class Token:
    kind: str  # url, host, email, phone, money
    text: str

    def __str__(self) -> str:
        return f"{self.kind} {self.text}"


def _amount(text: str) -> str:
    """A money amount's value, for comparison ("$1,200" and "1200 USD" are the same amount): a
    separator followed by three digits groups thousands, any other is the decimal point; a
    trailing k or m multiplies."""
    lowered = text.lower()
    number = re.search(r"\d[\d.,]{0,40}", lowered).group(0).rstrip(".,")
    parts = re.split(r"[.,]", number)
    whole, fraction = ("".join(parts[:-1]), parts[-1]) if len(parts) > 1 and len(parts[-1]) != 3 else ("".join(parts), "0")
    value = float(f"{whole or 0}.{fraction or 0}")
    if re.search(r"\d\s{0,2}k\b", lowered):
        value *= 1000
    elif re.search(r"\d\s{0,2}m\b", lowered):
        value *= 1_000_000
    return f"{value:.2f}".rstrip("0").rstrip(".")


def tokens(text: str) -> list[Token]:
    """The checkable facts of a text: links, host names, addresses, phone numbers, amounts."""
    found: list[Token] = []
    for match in _URL.finditer(text):
        found.append(Token("url", match.group(0).rstrip(_TRAILING).lower()))
    for match in _EMAIL.finditer(text):
        found.append(Token("email", match.group(0).lower()))
    without_urls_and_emails = _EMAIL.sub(" ", _URL.sub(" ", text))
    for match in HOST.finditer(without_urls_and_emails):
        found.append(Token("host", match.group(0).lower()))
    for match in _PHONE.finditer(text):
        if sum(ch.isdigit() for ch in match.group(0)) >= 7:
            found.append(Token("phone", re.sub(r"\D", "", match.group(0))))
    for match in _MONEY.finditer(text):
        found.append(Token("money", _amount(match.group(0))))
    return found


def company_context() -> str:
    """What the company settings say about us, as grounding for replies."""
    return "\n".join(filter(None, (settings.COMPANY_NAME, settings.DEFAULT_FROM_EMAIL, settings.COMPANY_WEBSITE,
                                   settings.COMPANY_SUPPORT_EMAIL, settings.COMPANY_PHONE)))


def entity_facts(entities: Mapping[str, Any]) -> list[str]:
    """The entities of an inquiry a reply may repeat as facts: the amounts, seat counts and
    products the sender named. Not links and addresses (a reply that repeats a link the sender
    planted is what this check exists to hold), and not reference numbers as facts: a reference's
    digits would vouch for any phone number with the same digits (`entity_literals`)."""
    facts = [str(amount.get("text", "")) for amount in entities.get("amounts") or []]
    facts += [f"{n} seats" for n in entities.get("seats") or []]
    facts += [str(p) for p in entities.get("products") or []]
    return [fact for fact in facts if fact.strip()]


def entity_literals(entities: Mapping[str, Any]) -> list[str]:
    """The order, invoice and ticket numbers the sender named, exactly as written: a reply may
    repeat them as they are ("INV-2024-0042"), and only so (`grounding_failures`)."""
    values = (str(ref.get("value", "")) for ref in entities.get("order_numbers") or [])
    return [value for value in values if len(value) >= 5]


def context_texts(*, slugs: list[str], sender_email: str, facts: Iterable[str] = ()) -> list[str]:
    """What a reply may name: the knowledge-base articles the run used, the company settings, and
    the run's own facts (the sender's address, `entity_facts`); never the rest of the inquiry."""
    return [*selectors.knowledge_bodies(slugs=slugs), company_context(), sender_email, *facts]


def grounding_failures(reply: str, context: Callable[[], Iterable[str]], *, literals: Iterable[str] = ()) -> list[Token]:
    """The reply's facts that the context does not contain (empty: the reply is grounded). The
    context is read only when the reply names something (most replies name nothing). `literals`
    (the sender's reference numbers) are taken out of the reply first, where written exactly."""
    for literal in literals:
        # Whole tokens only: "INV-2024-0042" itself, never the digits inside a longer number.
        reply = re.sub(rf"(?<![\w+-]){re.escape(literal)}(?![\w-])", " ", reply, flags=re.IGNORECASE)
    claimed = tokens(reply)
    if not claimed:
        return []
    context_text = "\n".join(context())
    known = {(token.kind, token.text) for token in tokens(context_text)}
    lowered = context_text.lower()
    failures = []
    for token in claimed:
        if (token.kind, token.text) in known:
            continue
        if token.kind in ("url", "host") and token.text.removeprefix("https://").removeprefix("http://") in lowered:
            continue
        if token not in failures:
            failures.append(token)
    return failures
