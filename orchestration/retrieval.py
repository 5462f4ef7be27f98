"""Per-question answers from the knowledge base, with the sentences that answer and citations.

- `split_questions`: the questions and requests of an inquiry. Quoted threads ("On … wrote:",
  "> " lines, forwarded or original-message headers), signatures and greetings are dropped; a
  question mark ends a question, "…, and are you …?" or "Also, …" starts another, each item of a
  numbered or bulleted list is one, and so is a request ("I'd like to know whether …", "please
  let me know …"). A text without any is one question: its first sentences.
- `best_passage`: the one to three consecutive sentences of an article that cover the question
  best (the knowledge-base search's terms: stems, synonyms, corrected misspellings), verbatim.
- `answer_questions`: both, searching the whole knowledge base once per question
  (inquiries/kb_search.py); an article answers when its score reaches `settings.KB_MIN_RANK`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from inquiries import kb_search

MAX_QUESTIONS = 6
MAX_QUESTION_CHARS = 300
MAX_PASSAGE_SENTENCES = 3
MAX_ARTICLE_SENTENCES = 12  # sentences of an article a passage is chosen from (220 combinations)
EXTRA_SENTENCE_COST = 0.12  # a longer passage must cover this much more of the question
SECOND_ARTICLE_SHARE = 0.9  # a question's second article counts when it scores this share of the first

# Where the sender's own text ends: a quoted or forwarded thread, or a signature.
_THREAD_START = re.compile(
    r"(?im)^[ \t]{0,10}(?:-{2,20}[ \t]{0,5}(?:original message|forwarded message)|begin forwarded message"
    r"|on [^\n]{1,300}wrote:[ \t]{0,10}$|from:[ \t][^\n]{1,300}$|sent from my \w{1,20})")
_SIGN_OFF = re.compile(
    r"(?im)^[ \t]{0,10}(?:--[ \t]{0,2}|(?:best|kind|warm|many thanks|thanks|thank you|regards|best regards|"
    r"kind regards|cheers|sincerely|all the best|br)[ \t]{0,3}[,!.]?[ \t]{0,5})$")
_GREETING = re.compile(
    r"(?i)^(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)\b[^,!.\n?]{0,40}[,!.:][ \t]{0,5}")
_LIST_ITEM = re.compile(r"^[ \t]{0,10}(?:\d{1,2}[.)]|[-*\u2022])[ \t]{1,10}")
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t\n]{1,20}(?=\S)")
# "…, and are you SOC 2 compliant?": a second question inside one sentence.
_QUESTION_JOIN = re.compile(
    r"(?i)(?:,[ \t]{0,3}|[ \t]{1,3})(?:and|also|plus|or)[ \t]{1,3}(?:also[ \t]{1,3})?"
    r"(?=(?:are|is|do|does|did|can|could|will|would|have|has|what|how|which|where|when|who|why)\b)")
_ALSO = re.compile(r"(?i)^(?:also|and|plus|additionally|finally|lastly|one more thing)\b[ \t]{0,3}[,:]?[ \t]{0,3}")
_REQUEST = re.compile(
    r"(?i)^(?:i(?:'d| would) (?:like|love) to (?:know|understand|check|confirm)|i (?:was|am|'m) wondering"
    r"|i wonder|we(?:'d| would) like to know|please (?:let (?:me|us) know|tell|confirm|advise|send|share|explain)"
    r"|(?:can|could) you (?:tell|confirm|let|send|share|explain)|let (?:me|us) know|tell (?:me|us)"
    r"|i need to know|we need to know|i want to know|what about)\b")
_PRONOUN = re.compile(r"(?i)\b(?:it|this|that|these|those|them|they)\b")
_ARTICLE_SENTENCE = re.compile(r"(?<=[.!?])[ \t\n]{1,20}(?=[A-Z0-9(\"'$])")


def _words_before(text: str, end: int) -> int:
    return sum(1 for word in text[:end].split() if any(ch.isalpha() for ch in word)) - (
        1 if _GREETING.match(text[:end].lstrip()) else 0)


def _own_text(body: str) -> str:
    """The body without quoted lines, the quoted or forwarded thread, and the signature."""
    match = _THREAD_START.search(body)
    if match:
        body = body[:match.start()]
    # A sign-off ends the message only after some words of the sender's own: in "Hi team,\nThanks!\n
    # Do you …?" the "Thanks!" is not a signature.
    match = next((m for m in _SIGN_OFF.finditer(body) if _words_before(body, m.start()) >= 3), None)
    if match:
        body = body[:match.start()]
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))


def _segments(text: str) -> list[tuple[str, bool]]:
    """Paragraphs with wrapped lines joined; each list item its own segment (True: an item)."""
    segments: list[tuple[str, bool]] = []
    current: list[str] = []
    is_item = False
    for line in text.splitlines():
        item = _LIST_ITEM.match(line)
        if not line.strip() or item:
            if current:
                segments.append((" ".join(current), is_item))
            current, is_item = ([line[item.end():].strip()], True) if item else ([], False)
        else:
            current.append(line.strip())
    if current:
        segments.append((" ".join(current), is_item))
    return [(s, item) for s, item in segments if s]


def _clip(text: str) -> str:
    text = text.strip()
    if len(text) <= MAX_QUESTION_CHARS:
        return text
    return text[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]


def split_questions(subject: str, body: str) -> list[str]:
    """The inquiry's questions and requests, in order, at most MAX_QUESTIONS (see the module doc)."""
    sentences: list[tuple[str, bool]] = []
    for segment, is_item in _segments(_own_text(body or "")):
        for n, sentence in enumerate(_SENTENCE_END.split(segment)):
            sentence = _GREETING.sub("", sentence.strip()).strip()
            if sentence:
                sentences.append((sentence, is_item and n == 0))  # a list item's first sentence asks
    questions: list[str] = []
    for sentence, is_item in sentences:
        if is_item and not sentence.endswith("?"):
            parts = [sentence]
        elif sentence.endswith("?"):
            parts = _QUESTION_JOIN.split(sentence)
        elif _REQUEST.match(_ALSO.sub("", sentence)):
            parts = [sentence]
        else:
            continue
        for n, part in enumerate(parts):
            part = _clip(_ALSO.sub("", part.strip(" ,;")))
            if n < len(parts) - 1 and sentence.endswith("?"):
                part += "?"
            if len(part) > 3 and part.lower() not in (q.lower() for q in questions):
                questions.append(part[0].upper() + part[1:])
        if len(questions) >= MAX_QUESTIONS:
            break
    if not questions:
        main = " ".join(sentence for sentence, _ in sentences[:2]) or (subject or "").strip()
        questions = [_clip(main)] if main else []
    return questions[:MAX_QUESTIONS]


def _spans(body: str) -> list[tuple[int, int]]:
    """The article's sentences as (start, end) offsets into its body."""
    spans, start = [], 0
    for match in _ARTICLE_SENTENCE.finditer(body):
        spans.append((start, match.start()))
        start = match.end()
    if body[start:].strip():
        spans.append((start, len(body.rstrip())))
    return [(s, e) for s, e in spans if body[s:e].strip()]


def _field(article: Any, name: str) -> str:
    return article[name] if isinstance(article, dict) else getattr(article, name)


def _passage(found: list[kb_search.Concept], weights: list[float], body: str) -> tuple[str, float]:
    """The article's one to three sentences (in the article's order, not necessarily adjacent:
    "Growth costs $79 …" and "Paying annually saves 15% …" answer "Growth per year?" together)
    that cover the question best; each further sentence must add EXTRA_SENTENCE_COST of cover."""
    spans = _spans(body)[:MAX_ARTICLE_SENTENCES]
    if not spans:
        return body.strip(), 0.0
    sentences = [body[start:end] for start, end in spans]
    choices = [combo for size in range(1, MAX_PASSAGE_SENTENCES + 1)
               for combo in itertools.combinations(range(len(spans)), size)]
    scores = kb_search.coverage(found, weights, [" ".join(sentences[i] for i in combo) for combo in choices])
    alone = dict(zip(range(len(spans)), scores, strict=False))  # the single sentences come first
    best, best_value = choices[0], (float("-inf"), 0.0)
    for combo, score in zip(choices, scores, strict=True):
        # Ties go to the sentences that say most on their own: "Growth costs $79 …" over "Starter
        # costs $29 …" when "annually … Starter and Growth" completes either.
        value = (round(score - EXTRA_SENTENCE_COST * (len(combo) - 1), 9), sum(alone[i] for i in combo))
        if value > best_value:
            best, best_value = combo, value
    return " ".join(sentences[i] for i in best), max(best_value[0], 0.0)


def best_passage(question: str, article: Any) -> str:
    """The 1-3 sentences of the article (a dict or a KnowledgeArticle) that answer
    the question best, verbatim from its body."""
    found = kb_search.concepts(question)
    return _passage(found, kb_search.idfs(found), _field(article, "body"))[0]


@dataclass
class Retrieval:
    answers: list[dict[str, Any]] = field(default_factory=list)  # question, slug, title, passage, score
    unanswered: list[str] = field(default_factory=list)
    citations: list[dict[str, str]] = field(default_factory=list)  # slug, title, passage; one per article
    questions: list[str] = field(default_factory=list)


def answer_questions(subject: str, body: str, *, limit_per_question: int = 2) -> Retrieval:
    """Each question of the inquiry searched across the knowledge base; the articles that answer
    it (score >= settings.KB_MIN_RANK; a second one only when close to the first and its passage
    alone covers that much of the question) with their best passage, the questions none answers,
    and one citation per article used (its best-scoring passage). Grounding a reply
    (orchestration/reply_safety.py `context_texts`) takes the citations' slugs."""
    result = Retrieval(questions=split_questions(subject, body))
    cited: dict[str, dict[str, Any]] = {}
    for question in result.questions:
        found = kb_search.concepts(question)
        if subject.strip() and (not found or (len(found) < 2 and _PRONOUN.search(question))):
            found = kb_search.concepts(f"{subject}\n{question}")  # "Do you support it?" needs its subject
        weights = kb_search.idfs(found)  # once: the search and the passages weigh the same concepts
        hits = [h for h in kb_search.search(question, limit=limit_per_question, found=found, weights=weights)
                if h["rank"] >= settings.KB_MIN_RANK]
        hits = [h for h in hits if h["rank"] >= SECOND_ARTICLE_SHARE * hits[0]["rank"]]
        if not hits:
            result.unanswered.append(question)
            continue
        for n, hit in enumerate(hits):
            passage, covered = _passage(found, weights, hit["body"])
            if n and covered < settings.KB_MIN_RANK:
                continue  # a second article whose sentences say little of the question
            answer = {"question": question, "slug": hit["slug"], "title": hit["title"], "passage": passage,
                      "score": hit["rank"]}
            result.answers.append(answer)
            if hit["slug"] not in cited or cited[hit["slug"]]["score"] < hit["rank"]:
                cited[hit["slug"]] = answer
    result.citations = [{"slug": a["slug"], "title": a["title"], "passage": a["passage"]} for a in cited.values()]
    return result
