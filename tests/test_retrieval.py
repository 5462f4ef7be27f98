"""Per-question knowledge-base answers (orchestration/retrieval.py) and the search under them
(inquiries/kb_search.py: full-text, synonyms, trigram spelling correction), against the real
PostgreSQL with the demo knowledge base loaded."""

import re

import pytest

from inquiries import selectors
from inquiries.demo_data import KNOWLEDGE_BASE
from inquiries.models import KnowledgeArticle
from orchestration.retrieval import answer_questions, best_passage, split_questions
from testutils.workflow import load_knowledge_base

pytestmark = pytest.mark.django_db

BODIES = {article["slug"]: article["body"] for article in KNOWLEDGE_BASE}


@pytest.fixture(autouse=True)
def _kb():
    load_knowledge_base()


def _sentences(body: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(])", body) if s.strip()]


def test_a_two_part_question_gets_the_pricing_and_the_compliance_passage_with_two_citations():
    result = answer_questions("Question", "What does the Pro plan cost per year, and are you SOC 2 compliant?")

    assert result.questions == ["What does the Pro plan cost per year?", "Are you SOC 2 compliant?"]
    by_question = {}
    for answer in result.answers:
        by_question.setdefault(answer["question"], []).append(answer["slug"])
    assert by_question["What does the Pro plan cost per year?"][0] == "plans-and-pricing"
    assert by_question["Are you SOC 2 compliant?"] == ["security-and-compliance"]
    compliance = next(a for a in result.answers if a["slug"] == "security-and-compliance")
    assert "SOC 2 Type II" in compliance["passage"]
    assert compliance["passage"] != BODIES["security-and-compliance"]  # sentences, not the article
    assert [c["slug"] for c in result.citations] == ["plans-and-pricing", "security-and-compliance"]
    assert result.unanswered == []


def test_a_question_no_article_answers_is_unanswered_and_cites_nothing():
    result = answer_questions("Two questions", "How long is the free trial? Also, can I pay with bitcoin?")

    assert [a["slug"] for a in result.answers] == ["free-trial"]
    assert result.unanswered == ["Can I pay with bitcoin?"]
    assert [c["slug"] for c in result.citations] == ["free-trial"]


def test_quoted_threads_signatures_and_greetings_are_not_questions():
    body = ("Hi team,\n\nDo you offer a nonprofit discount?\n\nBest regards,\nDana Lee\nHead of Ops?\n\n"
            "On Mon, 3 Nov 2025 at 10:02, Sales <sales@example.com> wrote:\n> Is there anything else?\n"
            "> Do you need an Android app?\n")
    assert split_questions("Discounts", body) == ["Do you offer a nonprofit discount?"]
    forwarded = "Can we export our data?\n\n---------- Forwarded message ---------\nFrom: Bob\nWhat about SSO?"
    assert split_questions("", forwarded) == ["Can we export our data?"]


def test_lists_requests_and_also_each_make_a_question():
    body = ("We are evaluating vendors. I'd like to know whether you support SAML.\n"
            "1. Where is our data hosted\n2. How long do you retain deleted records?\n"
            "Also, do you have an iPhone app? Thanks for your help.")
    assert split_questions("Evaluation", body) == [
        "I'd like to know whether you support SAML.", "Where is our data hosted",
        "How long do you retain deleted records?", "Do you have an iPhone app?"]


def test_a_body_without_a_question_is_one_question_and_the_count_is_capped():
    assert split_questions("Refund", "I want my money back for the duplicate charge. It was on Monday. Thanks")[0] \
        .startswith("I want my money back for the duplicate charge.")
    many = " ".join(f"Question number {n} about SSO?" for n in range(10))
    assert len(split_questions("", many)) == 6


def test_passages_are_one_to_three_verbatim_sentences_of_the_article():
    result = answer_questions("Vendor questions", (
        "Do you support single sign-on? Which payment methods do you accept? What are the API rate limits? "
        "Is there an Android app? Can we get the data out as CSV?"))
    assert {a["slug"] for a in result.answers} >= {"single-sign-on", "invoices-and-payment-methods", "api-access",
                                                   "mobile-apps", "data-export"}
    for answer in result.answers:
        body = BODIES[answer["slug"]]
        used = [sentence for sentence in _sentences(body) if sentence in answer["passage"]]
        assert 1 <= len(used) <= 3, answer
        assert " ".join(used) == answer["passage"]  # whole sentences of the article, in its order
    rate = next(a for a in result.answers if a["slug"] == "api-access")["passage"]
    assert "60 requests per minute" in rate


def test_best_passage_picks_the_sentence_that_answers():
    article = KnowledgeArticle.objects.get(slug="free-trial")
    assert best_passage("Do I need a credit card?", article) == "No credit card is needed to start."
    assert best_passage("How long is the trial?", {"body": BODIES["free-trial"]}).startswith(
        "Every plan starts with a 14-day free trial")


@pytest.mark.parametrize(("question", "slug"), [
    ("Are you complience certified?", "security-and-compliance"),
    ("Which intergrations do you have?", "integrations"),
])
def test_trigram_similarity_corrects_a_misspelling(question, slug, settings):
    found = selectors.knowledge_search(text=question, limit=3)
    assert found[0]["slug"] == slug
    assert found[0]["rank"] >= settings.KB_MIN_RANK


def test_a_misspelling_without_a_similar_word_finds_nothing():
    assert selectors.knowledge_search(text="qwxzv plorp", limit=3) == []


def test_synonyms_find_the_article_that_uses_another_word(settings):
    found = selectors.knowledge_search(text="Do you support single sign-on?", limit=3)
    assert found[0]["slug"] == "single-sign-on"
    assert found[0]["rank"] >= settings.KB_MIN_RANK
    # Only the synonym list links "single sign-on" to an article that says "Okta".
    KnowledgeArticle.objects.all().delete()
    KnowledgeArticle.objects.create(slug="company-login", title="Logging in with your company account",
                                    body="Okta and OneLogin work out of the box.")
    found = selectors.knowledge_search(text="Do you support single sign-on?", limit=3)
    assert [hit["slug"] for hit in found] == ["company-login"]


def test_the_rank_is_the_share_of_the_question_an_article_covers():
    full = selectors.knowledge_search(text="refund policy", limit=1)[0]
    half = selectors.knowledge_search(text="refund policy zorblax", limit=1)[0]
    assert full["slug"] == half["slug"] == "refund-policy"
    assert full["rank"] == 1.0
    assert 0 < half["rank"] < full["rank"]  # "zorblax", in no article, is a part none covers
    KnowledgeArticle.objects.filter(slug="refund-policy").update(is_published=False)
    assert "refund-policy" not in [h["slug"] for h in selectors.knowledge_search(text="refund policy", limit=5)]


@pytest.mark.parametrize("text", [
    "What's the price in €? d'Artagnan \\ 'quoted' \"x\" & | ! <-> :* (",
    "Ünïcödé prícing für Grüße? 99.95% uptime",
    "?" * 3000,
    "and are you " * 400,
    "",
])
def test_odd_text_neither_breaks_the_search_nor_the_split(text):
    result = answer_questions("Subject: with 'quotes' & |", text)
    assert len(result.questions) <= 6
    assert all(len(q) <= 300 for q in result.questions)
    for answer in result.answers:
        assert answer["passage"] in BODIES[answer["slug"]]
