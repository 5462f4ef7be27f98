"""Names of the languages a run may be read in (ISO 639-1 codes, as orchestration/analysis/ stores
them): Django's own table, and the few of the detector's languages that Django does not know."""

from django.conf.locale import LANG_INFO

_MORE = {
    "gu": "Gujarati", "la": "Latin", "lg": "Ganda", "mi": "Maori", "sn": "Shona", "so": "Somali",
    "st": "Sotho", "tl": "Tagalog", "tn": "Tswana", "ts": "Tsonga", "xh": "Xhosa", "yo": "Yoruba",
    "zh": "Chinese", "zu": "Zulu",
}


def language_name(code: str) -> str:
    """The English name of the language with this code, or "" for a code neither table has."""
    if not code:
        return ""
    info = LANG_INFO.get(code)
    return _MORE.get(code) or (info or {}).get("name", "")


# The codes the console offers as suggestions in the history's language filter, by name.
KNOWN = sorted(({*(code for code in LANG_INFO if len(code) == 2), *_MORE}), key=language_name)
