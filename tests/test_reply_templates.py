"""The built-in engine's replies in six languages (orchestration/engines/reply_templates.py):
each greets, speaks its language, answers the other questions from the knowledge base verbatim
and promises a colleague for the rest; anything else is answered in English."""

import pytest

from inquiries.models import Intent
from orchestration.engines import builtin
from orchestration.engines.reply_templates import EN, TEMPLATES, templates_for

# language -> (greeting of "Ana", a phrase only a reply in that language has, sign-off)
LANGUAGES = {
    "en": ("Hi Ana,", "Thanks for", "Best regards,\nThe Acme team"),
    "de": ("Hallo Ana,", "vielen Dank", "Viele Grüße\nIhr Acme-Team"),
    "fr": ("Bonjour Ana,", "Merci", "Bien cordialement,\nL'équipe Acme"),
    "es": ("Hola, Ana:", "Gracias", "Un saludo,\nEl equipo de Acme"),
    "pt": ("Olá, Ana,", "Obrigado", "Atenciosamente,\nEquipe Acme"),
    "nl": ("Beste Ana,", "Bedankt", "Met vriendelijke groet,\nHet Acme-team"),
}
ANSWERS = [
    {"question": "Do you offer SSO?", "passage": "Growth costs $79 per seat per month with unlimited seats, "
     "priority support, SSO and 100,000 inquiries a month.", "slug": "plans-and-pricing", "title": "Plans and pricing"},
    {"question": "Can I export my data?", "passage": "Export is free on every plan.", "slug": "export",
     "title": "Exporting your data"},
]


def _reply(language, intent=Intent.PRICING, **kwargs):
    kwargs.setdefault("lead_tier", "warm")
    return builtin.draft_reply(intent=intent, sender_name="Ana María Ruiz", subject="Pricing", company="Acme",
                               language=language, **kwargs).body


def test_every_language_has_every_text_with_the_same_placeholders():
    assert set(TEMPLATES) == set(LANGUAGES)
    for code, table in TEMPLATES.items():
        assert set(table) == set(EN), code
        for key, text in table.items():
            assert _placeholders(text) == _placeholders(EN[key]), (code, key)


def _placeholders(text):
    import string

    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)


@pytest.mark.parametrize("language", list(LANGUAGES))
@pytest.mark.parametrize("intent", [Intent.FAQ, Intent.DEMO_REQUEST, Intent.PRICING, Intent.UPGRADE,
                                    Intent.SUPPORT, Intent.COMPLAINT])
def test_replies_greet_and_sign_off_in_their_language(language, intent):
    hello, phrase, signoff = LANGUAGES[language]
    reply = _reply(language, intent, faq_answer="Export is free on every plan." if intent == Intent.FAQ else "",
                   severity="high", escalated=True)
    assert reply.startswith(hello)
    assert phrase in reply
    assert reply.endswith(signoff)
    assert "{" not in reply
    assert "}" not in reply
    others = {code for code in LANGUAGES if code != language}
    assert not any(LANGUAGES[code][2] in reply for code in others)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_other_questions_are_answered_verbatim_and_the_rest_promised(language):
    t = TEMPLATES[language]
    reply = _reply(language, answers=ANSWERS, unanswered=["Can we pay by cheque?", "Is there a Linux app?"])
    for answer in ANSWERS:
        lead_in = t["also_asked"].format(question=answer["question"], title=answer["title"])
        assert f"{lead_in}\n{answer['passage']}" in reply
    assert t["follow_up_many"] + "\n- Can we pay by cheque?\n- Is there a Linux app?" in reply
    assert reply.index(ANSWERS[0]["passage"]) < reply.index(ANSWERS[1]["passage"]) < reply.index("cheque")

    one = _reply(language, unanswered=["Can we pay by cheque?"])
    assert t["follow_up_one"].format(question="Can we pay by cheque?") in one


def test_localized_texts_are_not_english():
    reply = _reply("de", intent=Intent.SUPPORT, severity="critical")
    assert "Wir behandeln das als kritisch" in reply
    assert "critical" not in reply
    assert "Vertriebsteam meldet sich innerhalb eines Werktags" in _reply("de")
    assert "40 licencias" in _reply("es", seats=40)
    assert "«\u00a0Pricing\u00a0»" in _reply("fr")  # French puts a no-break space inside the quotes


@pytest.mark.parametrize("language", ["", "it", "xx", None, "EN"])
def test_unsupported_languages_get_english(language):
    assert _reply(language) == _reply("en")


def test_region_codes_use_their_language():
    assert _reply("pt-BR") == _reply("pt")
    assert templates_for("NL") is TEMPLATES["nl"]


def test_a_language_switched_off_in_settings_is_answered_in_english(settings):
    settings.REPLY_LANGUAGES = ["en", "de"]
    assert _reply("fr") == _reply("en")
    assert _reply("de").startswith("Hallo Ana,")


def test_without_a_usable_name_the_greeting_has_none():
    for language, expected in {"en": "Hi there,", "de": "Guten Tag,", "fr": "Bonjour,", "nl": "Goedendag,"}.items():
        reply = builtin.draft_reply(intent=Intent.FAQ, sender_name="https://evil.example", subject="",
                                    company="Acme", language=language).body
        assert reply.startswith(expected + "\n\n")


def test_questions_and_titles_shown_are_sanitised_and_empty_answers_skipped():
    reply = _reply("en", answers=[
        {"question": "See https://evil.example/x now", "passage": "Export is free on every plan.",
         "slug": "export", "title": "Exporting your data"},
        {"question": "Ignored", "passage": "  ", "slug": "x", "title": "X"},
    ], unanswered=["", "mail me at bob@evil.example please"])
    assert "evil.example" not in reply
    assert "Ignored" not in reply
    assert "You also asked about \u201cSee now\u201d. From our help article \u201cExporting your data\u201d:" in reply
    assert "You also asked about \u201cmail me at please\u201d. A colleague will follow up on that personally." in reply


def test_without_answers_the_english_reply_is_unchanged():
    assert _reply("en", answers=(), unanswered=()) == builtin.draft_reply(
        intent=Intent.PRICING, sender_name="Ana María Ruiz", subject="Pricing", company="Acme", lead_tier="warm").body
