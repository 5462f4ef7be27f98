"""The entities an inquiry names: reference numbers (orders, invoices, tickets), amounts of money,
seat counts, the company's products, URLs and e-mail addresses.

`extract_entities` returns exactly the keys of EMPTY, each a list deduplicated in order of
appearance and at most MAX_ITEMS long. Every pattern is linear in the text (bounded quantifiers,
no nested repetition; tests/test_redos.py): the reference patterns of
settings.ENTITY_REFERENCE_PATTERNS are compiled here, at import, so that the check sees them too."""

import functools
import re

from django.conf import settings

from .text import EMAIL_RE, URL_RE

MAX_ITEMS = 20
MAX_CHARS = 20_000
MAX_ITEM_CHARS = 200
KINDS = ("order", "invoice", "ticket")
EMPTY = ("order_numbers", "amounts", "seats", "products", "urls", "emails")

REFERENCE_PATTERNS: dict[str, list[re.Pattern]] = {
    kind: [re.compile(p) for p in settings.ENTITY_REFERENCE_PATTERNS.get(kind, ())] for kind in KINDS
}

# Currencies by symbol, code and word (ISO 4217).
SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
CODES = ("USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK", "BRL", "MXN", "INR")
WORDS = {"euro": "EUR", "euros": "EUR", "dollar": "USD", "dollars": "USD", "pounds": "GBP", "francs": "CHF"}
# 1,200 | 1.200,50 | 1 200 (no-break space) | 49 | 49.99 | 1,5
_NUMBER = r"(?P<num>\d{1,3}(?:[.,\u00a0\u202f']\d{3}){1,5}(?:[.,]\d{1,2})?|\d{1,12}(?:[.,]\d{1,2})?)"
_MULT = r"(?:\s?(?P<mult>[kK]|[mM](?:io|illion)?)\b)?"
_CODE = "|".join(CODES)
AMOUNT_PATTERNS = [
    # $49, € 1.200,50, USD 5k
    re.compile(r"(?:(?P<sym>[$€£¥])|\b(?P<code>" + _CODE + r"))\s?(?<![\d.,])" + _NUMBER + r"(?![\d])" + _MULT),
    # 1,200 EUR, 49 €, 300 euros
    re.compile(
        r"(?<![\d.,])" + _NUMBER + _MULT.replace("mult", "mult2")
        + r"\s?(?:(?P<sym>[$€£¥])|(?P<code>" + _CODE + r")\b|(?i:(?P<word>euros?|dollars?|pounds|francs))\b)"
    ),
]
# 40 seats, 25 agents, 12 Lizenzen; "team of 25"
_SEAT_WORDS = (
    r"seats?|users?|licen[cs]es?|agents?|members?|employees?|people|persons?|staff"
    r"|lizenzen|nutzer(?:innen)?|benutzer|mitarbeiter(?:innen)?|pl(?:ä|ae)tze"
    r"|utilisateurs?|postes?|agents?|si(?:è|e)ges?"
    r"|usuarios?|licencias?|agentes?|puestos?|asientos?"
    r"|usu(?:á|a)rios?|utilizadores?|licen(?:ç|c)as?|lugares?"
    r"|gebruikers?|licenties?|medewerkers?|plekken"
)
SEAT_PATTERNS = [
    re.compile(r"(?<![\d.,])(?P<n>\d{1,6})[\s-]{0,3}(?i:(?:" + _SEAT_WORDS + r"))\b"),
    re.compile(r"(?i:\b(?:team|group|staff)\s{1,3}of\s{1,3})(?P<n>\d{1,6})\b"),
]
MAX_SEATS = 1_000_000


def _number(text: str, mult: str | None) -> float | None:
    """'1.200,50' -> 1200.5, '1,200' -> 1200, '49.99' -> 49.99, with k / m multipliers."""
    digits = re.sub(r"[\u00a0\u202f']", "", text)
    last = max(digits.rfind("."), digits.rfind(","))
    if last >= 0 and len(digits) - last - 1 in (1, 2):  # a decimal separator
        whole, fraction = digits[:last], digits[last + 1:]
    else:
        whole, fraction = digits, "0"
    whole = whole.replace(".", "").replace(",", "")
    try:
        value = float(f"{whole}.{fraction}")
    except ValueError:
        return None
    factor = {"k": 1e3, "m": 1e6}.get((mult or "")[:1].lower(), 1)
    return round(value * factor, 2)


def _amounts(text: str) -> list[dict]:
    found: list[tuple[int, int, dict]] = []
    for pattern in AMOUNT_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < end and start < m.end() for start, end, _ in found):
                continue
            groups = m.groupdict()
            if groups.get("sym"):
                currency = SYMBOLS[groups["sym"]]
            elif groups.get("code"):
                currency = groups["code"]
            else:
                currency = WORDS.get((groups.get("word") or "").lower(), "")
            value = _number(m.group("num"), groups.get("mult") or groups.get("mult2"))
            if value is not None:
                found.append((m.start(), m.end(), {
                    "value": value, "currency": currency, "text": m.group(0).strip()[:MAX_ITEM_CHARS],
                }))
    found.sort(key=lambda item: item[0])
    return [item for _, _, item in found]


def _references(text: str) -> list[dict]:
    found: list[tuple[int, int, str, str]] = []
    for kind, patterns in REFERENCE_PATTERNS.items():
        for pattern in patterns:
            for m in pattern.finditer(text):
                group = "value" if "value" in pattern.groupindex else 0
                found.append((m.start(group), m.end(group), kind, m.group(group)))
    found.sort(key=lambda item: (item[0], item[0] - item[1]))  # longest first at each start
    kept: list[tuple[int, int, str, str]] = []
    for item in found:
        if not kept or item[0] >= kept[-1][1]:
            kept.append(item)
    return [{"kind": kind, "value": value.strip().upper()[:MAX_ITEM_CHARS]} for _, _, kind, value in kept]


def _seats(text: str) -> list[int]:
    found = []
    for pattern in SEAT_PATTERNS:
        found += [(m.start(), int(m.group("n"))) for m in pattern.finditer(text)]
    return [n for _, n in sorted(found) if 0 < n <= MAX_SEATS]


@functools.lru_cache(maxsize=32)
def _product_pattern(products: tuple[tuple[str, tuple[str, ...]], ...]):
    """One pattern for the products' names and aliases, and the canonical name of each term.
    A one-word term matches as written or in capitals ("Pro", "PRO", not "pro rata"); a term of
    several words in any case."""
    canonical: dict[str, str] = {}
    alternatives = []
    for name, aliases in products:
        for term in (name, *aliases):
            term = " ".join(str(term).split())[:MAX_ITEM_CHARS]
            if not term or term.casefold() in canonical:
                continue
            canonical[term.casefold()] = name
            if " " in term:
                alternatives.append("(?i:" + re.escape(term).replace(r"\ ", r"\s{1,3}") + ")")
            else:
                alternatives += [re.escape(term), re.escape(term.upper())]
    if not alternatives:
        return None, canonical
    alternatives.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"), canonical


def _products(text: str, products) -> list[str]:
    key = tuple((str(name), tuple(str(a) for a in aliases or ())) for name, aliases in products or ())
    pattern, canonical = _product_pattern(key)
    if pattern is None:
        return []
    # casefold, not lower: a case-insensitive match of "Business" may be written "Buſineſs" or
    # "STRASSE" for "Straße"; a match whose folded form is still unknown is left out, never an error.
    found = (canonical.get(" ".join(m.group(0).split()).casefold()) for m in pattern.finditer(text))
    return [name for name in found if name]


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        key = repr(sorted(item.items())) if isinstance(item, dict) else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out[:MAX_ITEMS]


def extract_entities(subject: str, body: str, *, products=()) -> dict:
    """The entities of an inquiry (keys: EMPTY). `products` is a list of (name, aliases) pairs;
    products come back by their canonical name."""
    text = f"{subject or ''}\n{body or ''}"[:MAX_CHARS]
    urls = [m.group(0).rstrip(".,;:!?")[:MAX_ITEM_CHARS] for m in URL_RE.finditer(text)]
    emails = [m.group(0).strip(".").lower()[:MAX_ITEM_CHARS] for m in EMAIL_RE.finditer(text)]
    plain = EMAIL_RE.sub(" ", URL_RE.sub(" ", text))  # no numbers or products out of links
    return {
        "order_numbers": _unique(_references(plain)),
        "amounts": _unique(_amounts(plain)),
        "seats": _unique(_seats(plain)),
        "products": _unique(_products(plain, products)),
        "urls": _unique(urls),
        "emails": _unique([e for e in emails if "." in e.partition("@")[2]]),
    }
