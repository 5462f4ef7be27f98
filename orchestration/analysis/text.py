"""The customer's own words of an e-mail: quoted replies, signatures, URLs and e-mail addresses
removed, so that language detection and sentiment see what the customer wrote."""

import re

URL_RE = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]{1,2000}", re.IGNORECASE)
EMAIL_RE = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){0,8}")
# A quoted thread starts at an attribution line ("On Mon, ... wrote:", "Am ... schrieb ...:",
# "Le ... a écrit :", "El ... escribió:", "Em ... escreveu:", "Op ... schreef ...:") or at an
# Outlook header block; a signature at "-- " on a line of its own.
THREAD_START_RE = re.compile(
    r"^(?:On|Am|Le|El|Em|Op)\s[^\n]{0,300}(?:wrote|schrieb|a écrit|escribió|escreveu|schreef)[^\n]{0,80}$"
    r"|^-{2,}\s?(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original)"
    r"|^(?:From|Von|De|Van):\s[^\n]{0,300}$"
    r"|^--\s?$",
    re.MULTILINE,
)

MAX_CHARS = 20_000


def own_text(text: str) -> str:
    """The text without quoted lines, the quoted thread, the signature, URLs and addresses."""
    text = (text or "")[:MAX_CHARS]
    match = THREAD_START_RE.search(text)
    if match and match.start() > 0:
        text = text[: match.start()]
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    text = "\n".join(lines)
    text = URL_RE.sub(" ", text)
    return EMAIL_RE.sub(" ", text)
