"""What the triage reads and answers, through the worker's own task (`run_execute`) on the real
PostgreSQL and Redis: confidence bands, language, sentiment, entities, every question answered
from the knowledge base with its citations, and the two new escalation rules
(docs/workflow.md, "Reading an inquiry" and "Answers and citations")."""

import pytest
from django.core import mail

from core.redis_client import get_redis
from inquiries import payloads
from inquiries.models import Run
from testutils.workflow import accept, execute, fake_ollama_engine, load_knowledge_base

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def builtin_engine(settings):
    settings.LLM_BACKEND = "builtin"
    get_redis().flushdb()
    load_knowledge_base()


def rules(run: Run) -> list[str]:
    return [reason["rule"] for reason in run.escalation_reasons]


def test_a_sales_inquiry_gets_both_answers_with_their_citations(builtin_engine):
    run = accept(subject="Growth per year + compliance", sender_email="george@example.org",
                 body="Hi,\n\nWhat does Growth cost per year, and are you SOC 2 compliant? Need both for my "
                      "budget request.\n\nGeorge")

    assert execute(run) == "completed"

    assert run.intent in ("pricing", "sales")
    assert {c["slug"] for c in run.citations} == {"plans-and-pricing", "security-and-compliance"}
    for citation in run.citations:
        assert citation["title"]
        assert citation["passage"] in run.final_response  # quoted verbatim
    assert "$79" in run.final_response
    assert "SOC 2 Type II" in run.final_response
    assert "sales team" in run.final_response  # the sales next step stays
    assert len(mail.outbox) == 1
    status = payloads.run_status_payload(run)
    assert status["citations"] == run.citations
    assert status["confidence_band"] == run.confidence_band == "high"
    assert status["language"] == "en"


def test_a_german_support_request_is_read_and_answered_in_german(builtin_engine):
    run = accept(subject="Export funktioniert nicht", sender_name="Jonas Weber", sender_email="jonas@example.de",
                 body="Guten Tag, seit gestern bricht der CSV-Export bei uns jedes Mal mit einem Fehler ab. "
                      "Können Sie sich das bitte ansehen? Unsere Rechnung INV-2024-0193 ist davon nicht betroffen.")

    execute(run)

    assert run.language == "de"
    assert run.language_confidence > 0.8
    assert run.sentiment == "unknown"  # VADER reads English only
    assert {"kind": "invoice", "value": "INV-2024-0193"} in run.entities["order_numbers"]
    reply = run.final_response or run.draft_response
    assert reply.startswith("Hallo Jonas,")
    assert "language_unsupported" not in rules(run)


def test_a_language_without_templates_escalates_with_an_english_draft(builtin_engine):
    run = accept(subject="Domanda sul prezzo", sender_name="Giulia Rossi", sender_email="giulia@example.it",
                 body="Buongiorno, vorrei sapere quanto costa il piano Growth per una squadra di dieci persone. "
                      "Grazie mille per la vostra disponibilità.")

    assert execute(run) == "escalated"

    assert run.language == "it"
    assert "language_unsupported" in rules(run)
    assert run.draft_response.startswith("Hi Giulia")
    assert "Reply in the sender's language yourself" in run.handoff_summary
    assert len(mail.outbox) == 0


def test_a_furious_support_request_escalates_as_negative_sentiment(builtin_engine, settings):
    body = ("Your product is garbage. The dashboard crashed again and we lost a whole morning of work. "
            "This is completely unacceptable, the worst service we have ever paid for. Fix it now!")
    run = accept(subject="Crashed AGAIN", sender_email="angry@example.net", body=body)

    assert execute(run) == "escalated"

    assert run.sentiment == "very_negative"
    assert "negative_sentiment" in rules(run)
    assert "sentiment very_negative" in run.handoff_summary

    settings.NEGATIVE_SENTIMENT_ESCALATES = False
    calm = accept(subject="Crashed AGAIN", sender_email="angry2@example.net", body=body)
    execute(calm)
    assert calm.sentiment == "very_negative"
    assert "negative_sentiment" not in rules(calm)


def test_the_low_band_escalates_and_every_run_carries_its_band(builtin_engine, settings):
    settings.ESCALATION_CONFIDENCE_THRESHOLD = 0.999
    settings.CONFIDENCE_BAND_HIGH = 0.9999
    run = accept(subject="Hello", body="Quick question about something.")

    assert execute(run) == "escalated"

    assert run.confidence_band == "low"
    assert "low_confidence" in rules(run)


def test_a_question_no_article_answers_is_named_in_the_handoff(builtin_engine):
    run = accept(subject="Two questions", sender_email="two@example.com",
                 body="How long is the free trial? Also, can I pay with bitcoin?")

    assert execute(run) == "escalated"

    assert "kb_no_answer" in rules(run)
    assert "No article answers: Can I pay with bitcoin?" in run.handoff_summary
    assert "Answered from the knowledge base: How long is the free trial?" in run.handoff_summary
    assert "14-day free trial" in run.draft_response
    assert [c["slug"] for c in run.citations] == ["free-trial"]


def test_on_ollama_the_model_reads_the_sentiment_and_is_told_the_language_and_facts(settings):
    with fake_ollama_engine(settings) as fake:
        fake.answers["intent"] = {"intent": "billing_issue", "confidence": 0.95, "severity": "medium",
                                  "sentiment": "negative", "reasoning": "a duplicate charge"}
        # The reply repeats the amount and the invoice number the sender named: facts, so it is sent.
        fake.answers["body"] = {"body": "Hallo Lena,\n\nwir erstatten die doppelte Abbuchung von 49,00 € "
                                        "(Rechnung INV-2024-0042).\n\nViele Grüße\nThe AutoFlow team"}
        run = accept(subject="Doppelte Abbuchung", sender_name="Lena Fischer", sender_email="lena@example.de",
                     body="Hallo, Sie haben uns die Rechnung INV-2024-0042 über 49,00 € zweimal abgebucht. "
                          "Bitte erstatten Sie den doppelten Betrag.")

        assert execute(run) == "completed"

        assert run.sentiment == "negative"  # the model's reading
        assert run.language == "de"
        assert "49,00 €" in run.final_response
        reply_request = fake.chat_bodies[-1]["messages"]
        assert "Write in German" in reply_request[0]["content"]
        assert "INV-2024-0042" in reply_request[1]["content"]  # entities passed as facts
        assert "The sender writes in: de" in reply_request[1]["content"]
