"""The triage analysis per inquiry (orchestration/analysis/): the memory it adds to a worker
process and the time it takes.

    .venv/bin/python -m bench.analysis
    LANGUAGE_DETECTION_HIGH_ACCURACY=true .venv/bin/python -m bench.analysis
    LANGUAGE_DETECTION_LANGUAGES=en,de,fr,es,pt,nl .venv/bin/python -m bench.analysis

In one process, as a worker has it: Django set up and the built-in classifier trained first, then
RSS is read (from the kernel, VmRSS) before and after the language detector's warm-up and VADER's
first use. Times are the mean over `--rounds` passes of a corpus of inquiries in twelve languages
(about 300 characters each, a quoted thread and a signature included), per inquiry.
"""

import argparse
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autoflow.settings")

SENTENCES = {
    "en": "Hi, our CSV export has been failing since yesterday's update and we need the numbers for "
          "the board on Friday. We are a team of 25 agents on the Growth plan; invoice INV-2024-0193.",
    "de": "Hallo, seit dem gestrigen Update schlägt unser CSV-Export fehl, und wir brauchen die Zahlen "
          "bis Freitag. Wir sind ein Team von 25 Mitarbeitern im Growth-Tarif; Rechnung Nr. 2024113.",
    "fr": "Bonjour, notre export CSV échoue depuis la mise à jour d'hier et nous avons besoin des "
          "chiffres pour vendredi. Nous sommes une équipe de 25 agents sur l'offre Growth.",
    "es": "Hola, nuestra exportación CSV falla desde la actualización de ayer y necesitamos las cifras "
          "para el viernes. Somos un equipo de 25 agentes en el plan Growth; pedido 55120.",
    "pt": "Olá, a nossa exportação CSV está falhando desde a atualização de ontem e precisamos dos "
          "números até sexta-feira. Somos uma equipe de 25 agentes no plano Growth.",
    "nl": "Hallo, onze CSV-export mislukt sinds de update van gisteren en we hebben de cijfers vrijdag "
          "nodig. Wij zijn een team van 25 medewerkers met het Growth-abonnement.",
    "it": "Buongiorno, l'esportazione CSV non funziona dall'aggiornamento di ieri e ci servono i numeri "
          "per venerdì. Siamo un team di 25 agenti con il piano Growth.",
    "pl": "Dzień dobry, eksport CSV nie działa od wczorajszej aktualizacji, a potrzebujemy danych na "
          "piątek. Jesteśmy zespołem 25 agentów na planie Growth.",
    "sv": "Hej, vår CSV-export har slutat fungera sedan gårdagens uppdatering och vi behöver siffrorna "
          "till fredag. Vi är ett team på 25 agenter med Growth-planen.",
    "ru": "Здравствуйте, экспорт в CSV не работает со вчерашнего обновления, а цифры нужны к пятнице. "
          "Нас 25 агентов на тарифе Growth.",
    "ja": "こんにちは、昨日のアップデート以降CSVエクスポートが失敗します。金曜日までに数字が必要です。"
          "Growthプランで25人のエージェントが使っています。",
    "el": "Γεια σας, η εξαγωγή CSV αποτυγχάνει από τη χθεσινή ενημέρωση και χρειαζόμαστε τα νούμερα "
          "μέχρι την Παρασκευή. Είμαστε ομάδα 25 ατόμων.",
}
THREAD = "\n\n--\nAnna Example\n\nOn Mon, 1 Dec 2026, support@example.com wrote:\n> Hello, how can we help?"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from orchestration.analysis import language
    from orchestration.analysis.entities import extract_entities
    from orchestration.analysis.sentiment import sentiment_of
    from orchestration.engines.classifier import get_classifier

    get_classifier()
    corpus = [(code, f"Subject: CSV export\n\n{text}{THREAD}") for code, text in SENTENCES.items()]
    base = rss_mb()
    start = time.perf_counter()
    language.warm_up()
    warm = time.perf_counter() - start
    after_language = rss_mb()
    sentiment_of("warm-up", "en")
    after_vader = rss_mb()

    def per_inquiry(fn) -> float:
        start = time.perf_counter()
        for _ in range(args.rounds):
            for _, text in corpus:
                fn(text)
        return (time.perf_counter() - start) / (args.rounds * len(corpus)) * 1000

    right = sum(language.detect_language(text).code == code for code, text in corpus)
    mode = "high" if settings.LANGUAGE_DETECTION_HIGH_ACCURACY else "low"
    print(f"languages: {len(settings.LANGUAGE_DETECTION_LANGUAGES)} ({mode} accuracy), corpus "
          f"{len(corpus)} inquiries of ~{sum(len(t) for _, t in corpus) // len(corpus)} chars, {right} detected right")
    print(f"detector warm-up: {warm * 1000:.0f} ms, RSS +{after_language - base:.1f} MB; VADER: RSS "
          f"+{after_vader - after_language:.1f} MB")
    print(f"per inquiry: language {per_inquiry(language.detect_language):.3f} ms, sentiment "
          f"{per_inquiry(lambda t: sentiment_of(t, 'en')):.3f} ms, entities {per_inquiry(lambda t: extract_entities('', t)):.3f} ms")
    print(f"RSS after all: +{rss_mb() - base:.1f} MB over the worker's {base:.0f} MB")


if __name__ == "__main__":
    main()
