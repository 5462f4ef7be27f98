"""Language detection (orchestration/analysis/language.py): real sentences, short texts, quoted
threads, the confidence floor and the configured languages."""

import pytest

from orchestration.analysis import language
from orchestration.analysis.language import Detected, detect_language


@pytest.fixture
def fresh_detector():
    language.reset()
    yield
    language.reset()


@pytest.mark.parametrize(("code", "text"), [
    ("en", "Hi, our CSV export has been failing since yesterday's update. Could you take a look at it?"),
    ("en", "We are a team of 25 agents and would like a demo of the Business plan next week."),
    ("de", "Hallo, seit dem gestrigen Update schlägt unser CSV-Export fehl. Können Sie sich das bitte ansehen?"),
    ("de", "Wir sind ein Team von 25 Mitarbeitern und hätten gerne eine Demo des Business-Tarifs."),
    ("fr", "Bonjour, notre export CSV échoue depuis la mise à jour d'hier. Pouvez-vous regarder ?"),
    ("fr", "Nous sommes une équipe de 25 agents et souhaiterions une démonstration de l'offre Business."),
    ("es", "Hola, nuestra exportación CSV falla desde la actualización de ayer. ¿Pueden revisarlo?"),
    ("es", "Somos un equipo de 25 agentes y nos gustaría una demostración del plan Business."),
    ("pt", "Olá, a nossa exportação CSV está falhando desde a atualização de ontem. Vocês podem verificar?"),
    ("pt", "Somos uma equipe de 25 agentes e gostaríamos de uma demonstração do plano Business."),
    ("nl", "Hallo, onze CSV-export mislukt sinds de update van gisteren. Kunnen jullie ernaar kijken?"),
    ("nl", "Wij zijn een team van 25 medewerkers en willen graag een demo van het Business-abonnement."),
    ("it", "Buongiorno, l'esportazione CSV non funziona dall'aggiornamento di ieri. Potete controllare?"),
    ("pl", "Dzień dobry, eksport CSV nie działa od wczorajszej aktualizacji. Czy możecie to sprawdzić?"),
    ("sv", "Hej, vår CSV-export har slutat fungera sedan gårdagens uppdatering. Kan ni titta på det?"),
    ("ru", "Здравствуйте, экспорт в CSV не работает со вчерашнего обновления. Можете проверить?"),
    ("ja", "こんにちは、昨日のアップデート以降CSVエクスポートが失敗します。確認していただけますか？"),
    ("el", "Γεια σας, η εξαγωγή CSV αποτυγχάνει από τη χθεσινή ενημέρωση. Μπορείτε να το ελέγξετε;"),
])
def test_real_sentences_are_recognised(code, text):
    found = detect_language(text)
    assert found.code == code
    assert 0.8 <= found.confidence <= 1.0


@pytest.mark.parametrize("text", ["", "   ", "Thanks!", "OK", "+49 30 1234567", "INV-2024-0193", "👍👍👍"])
def test_too_little_text_is_unknown(text):
    assert detect_language(text) == Detected("", 0.0)


def test_an_ambiguous_short_text_is_unknown_rather_than_wrong():
    """Two words both English and Dutch could own: below the confidence floor, not a guess."""
    assert detect_language("Thanks a lot!").code in ("", "en")
    assert detect_language("Bitte kündigen Sie mein Abonnement.").code in ("", "de")


def test_the_quoted_thread_signature_urls_and_addresses_do_not_decide():
    text = (
        "Bonjour, pouvez-vous m'envoyer la facture du mois dernier ? Merci d'avance.\n"
        "https://app.example.com/billing/invoices/this-is-an-english-looking-path\n"
        "--\n"
        "Marie Dupont, Head of Customer Success, The Best Company Limited\n\n"
        "On Mon, 1 Dec 2026 at 10:00, support@example.com wrote:\n"
        "> Hello Marie, thanks for reaching out. We have received your request and will get back\n"
        "> to you as soon as possible with the details that you asked for in your last e-mail.\n"
    )
    assert detect_language(text).code == "fr"


def test_the_confidence_floor_is_a_setting(settings, fresh_detector):
    text = "Hallo, seit dem gestrigen Update schlägt unser CSV-Export fehl. Können Sie sich das ansehen?"
    settings.LANGUAGE_DETECTION_MIN_CONFIDENCE = 1.01
    assert detect_language(text) == Detected("", 0.0)
    settings.LANGUAGE_DETECTION_MIN_CONFIDENCE = 0.8
    assert detect_language(text).code == "de"


def test_only_configured_languages_are_chosen(settings, fresh_detector):
    settings.LANGUAGE_DETECTION_LANGUAGES = ["en", "de", "xx"]  # an unknown code is left out
    assert detect_language("Bonjour, notre export CSV échoue depuis la mise à jour d'hier.").code in ("", "en", "de")
    assert detect_language("Seit dem gestrigen Update schlägt unser CSV-Export fehl.").code == "de"


def test_norwegian_is_reported_as_no(settings, fresh_detector):
    settings.LANGUAGE_DETECTION_LANGUAGES = ["en", "no", "sv", "da"]
    text = "Hei, CSV-eksporten vår har sluttet å fungere etter oppdateringen i går. Kan dere se på det?"
    assert detect_language(text).code == "no"


def test_fewer_than_two_known_languages_detect_nothing(settings, fresh_detector):
    settings.LANGUAGE_DETECTION_LANGUAGES = ["en"]
    assert detect_language("This is plainly an English sentence with enough letters.") == Detected("", 0.0)


def test_the_warm_up_builds_the_detector_once(fresh_detector):
    language.warm_up()
    built = language.detector()
    assert built is not None
    language.warm_up()
    assert language.detector() is built
