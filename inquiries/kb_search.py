"""Knowledge-base search in PostgreSQL: full-text search, widened by synonyms and trigram spelling
correction, scored as the share of the question an article covers.

A question becomes a list of *concepts* (`concepts`): each of its words (PostgreSQL's english
stemmer, stop words and filler such as "please" or "wonder" dropped), except that the phrases of
one synonym group (inquiries/data/kb_synonyms.txt: "sso|single sign-on|saml|…") found in the
question make one concept that any phrase of the group satisfies (the question's own phrase
fully, another phrase of the group `SYNONYM_WEIGHT`; longer phrases claim their words first). A word the knowledge base does
not contain is corrected to its vocabulary's most similar word (pg_trgm `similarity` ≥
`MIN_SIMILARITY` on the stems: "complience" finds "compliance"); the correction counts with its
similarity as its weight.

An article's score (`search`) is the idf-weighted share of the question's concepts it contains,
in [0, 1]: a concept found in the title or keywords counts fully, one found only in the body
`BODY_WEIGHT`; idf = ln(1 + (N - df + 0.5) / (df + 0.5)) over the published articles, so a word
every article has ("plan") weighs little and a word none has ("blockchain") lowers every
article's score. That is what `settings.KB_MIN_RANK` is compared with.

The vocabulary comes from `ts_stat` over the published articles' search vectors, read per query:
fine for a knowledge base of hundreds of articles; a much larger one would keep it in a
materialized view with a trigram index on the word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.db import connection

SYNONYMS_FILE = Path(__file__).resolve().parent / "data" / "kb_synonyms.txt"
MIN_SIMILARITY = 0.45  # pg_trgm similarity of two stems for a spelling correction
BODY_WEIGHT = 0.7  # a concept found only in an article's body, against its title or keywords
SYNONYM_WEIGHT = 0.8  # a concept found only as a synonym of what the question said
MAX_QUERY_CHARS = 5000
# Stems of words that ask rather than say what is asked about.
FILLER = frozenset((
    "abl", "also", "anyon", "anyth", "ask", "avail", "could", "curious", "current", "dear", "doe",
    "everyth", "exist", "find", "first", "get", "happen", "hello", "hey", "hi", "know", "later", "let",
    "like", "look", "mani", "much", "need", "offer", "pleas", "possibl", "provid", "question", "quick",
    "say", "send", "someth", "soon", "sure", "take", "tell", "thank", "thx", "use", "want", "way",
    "whether", "wonder", "work", "would"))

_LEXEME = re.compile(r"'((?:[^']|''){1,200})'")


@dataclass(frozen=True)
class Concept:
    query: str  # tsquery text of normalised lexemes ("'price' | 'cost'"), cast with ::tsquery
    own: str  # the part of the query the question itself said ("'cost'"): counts fully
    weight: float  # 1.0; a spelling correction: its similarity
    label: str  # what the question said


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def synonym_groups() -> list[list[str]]:
    groups = []
    for line in SYNONYMS_FILE.read_text().splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            groups.append([phrase.strip() for phrase in line.split("|") if phrase.strip()])
    return groups


@lru_cache(maxsize=1)
def _synonyms() -> tuple[tuple[tuple[frozenset[str], str], ...], ...]:
    """Per group, per phrase: the phrase's lexemes and its tsquery (all lexemes, AND)."""
    groups = synonym_groups()
    phrases = sorted({phrase for group in groups for phrase in group})
    with connection.cursor() as cursor:
        cursor.execute("SELECT p, plainto_tsquery('english', p)::text FROM unnest(%s::text[]) p", [phrases])
        queries = dict(cursor.fetchall())
    return tuple(
        tuple((frozenset(m.replace("''", "'") for m in _LEXEME.findall(queries[p])), queries[p])
              for p in group if queries.get(p))
        for group in groups)


# The question's lexemes, each with the vocabulary word it stands for: itself when the knowledge
# base has it, else the most similar word (trigram) if one is similar enough, else none.
_WORDS_SQL = """
WITH t AS (SELECT DISTINCT lexemes[1] AS lexeme FROM ts_debug('english', %s) WHERE cardinality(lexemes) > 0),
vocab AS MATERIALIZED (SELECT word FROM ts_stat(
    'SELECT search_vector FROM inquiries_knowledgearticle WHERE is_published'))
SELECT t.lexeme, c.word, c.sim FROM t LEFT JOIN LATERAL (
    SELECT v.word, similarity(v.word, t.lexeme) AS sim FROM vocab v
    WHERE v.word = t.lexeme OR (length(t.lexeme) >= 4 AND similarity(v.word, t.lexeme) >= %s)
    ORDER BY v.word = t.lexeme DESC, sim DESC, v.word LIMIT 1) c ON true
"""


def concepts(text: str) -> list[Concept]:
    """The terms of a question, synonyms grouped and misspellings corrected (see the module doc)."""
    if not text.strip():
        return []
    with connection.cursor() as cursor:
        cursor.execute(_WORDS_SQL, [text[:MAX_QUERY_CHARS], MIN_SIMILARITY])
        rows = cursor.fetchall()
    said: dict[int, list[str]] = {}  # synonym group -> the phrases of it the question said
    owner: dict[str, int] = {}  # lexeme -> the group it was said in
    _match_synonyms({lexeme for lexeme, _, _ in rows}, owner, said)
    weight: dict[str, float] = {}
    for lexeme, word, sim in rows:
        if lexeme in owner or lexeme in FILLER:
            continue
        if word is None or word == lexeme:
            weight[lexeme] = 1.0
        else:  # a misspelling: the knowledge base's most similar word, at its similarity
            weight[word] = max(weight.get(word, 0.0), round(float(sim), 3))
    _match_synonyms(set(weight) - set(owner), owner, said)
    groups = _synonyms()
    found = []
    for n, queries in sorted(said.items()):
        used = [lexeme for lexeme, group in owner.items() if group == n]
        found.append(Concept(" | ".join(dict.fromkeys(f"( {q} )" for _, q in groups[n])),
                             " | ".join(dict.fromkeys(f"( {q} )" for q in queries)),
                             min(weight.get(lexeme, 1.0) for lexeme in used), "|".join(sorted(used))))
    for lexeme, w in weight.items():
        if lexeme not in owner:
            found.append(Concept(_quoted(lexeme), _quoted(lexeme), w, lexeme))
    return found


def _match_synonyms(available: set[str], owner: dict[str, int], said: dict[int, list[str]]) -> None:
    """Record the synonym phrases whose lexemes are all available and not another group's; longer
    phrases first ("special pricing" is the discount group's, not also the price group's)."""
    members = sorted(((lexemes, q, n) for n, group in enumerate(_synonyms()) for lexemes, q in group),
                     key=lambda member: -len(member[0]))
    for lexemes, q, n in members:
        if lexemes <= available and all(owner.get(lexeme, n) == n for lexeme in lexemes):
            owner.update(dict.fromkeys(lexemes, n))
            said.setdefault(n, []).append(q)


_IDF_SQL = """
WITH c AS (SELECT i, q::tsquery AS q FROM unnest(%s::text[]) WITH ORDINALITY AS c(q, i)),
n AS (SELECT count(*) AS n FROM inquiries_knowledgearticle WHERE is_published)
SELECT c.i, ln(1 + ((SELECT n FROM n) - count(a.id) + 0.5) / (count(a.id) + 0.5))
FROM c LEFT JOIN inquiries_knowledgearticle a ON a.is_published AND a.search_vector @@ c.q
GROUP BY c.i ORDER BY c.i
"""

_SEARCH_SQL = """
WITH c AS (SELECT q::tsquery AS q, own::tsquery AS own, w, idf
           FROM unnest(%(q)s::text[], %(own)s::text[], %(w)s::float8[], %(idf)s::float8[]) AS c(q, own, w, idf))
SELECT a.slug, a.title, a.body, sum(c.idf * c.w * GREATEST(
        CASE WHEN ts_filter(a.search_vector, '{a}') @@ c.own THEN 1.0 WHEN a.search_vector @@ c.own THEN %(body)s
             ELSE 0 END,
        CASE WHEN ts_filter(a.search_vector, '{a}') @@ c.q THEN %(synonym)s
             WHEN a.search_vector @@ c.q THEN %(synonym)s * %(body)s ELSE 0 END)) / %(total)s AS score
FROM inquiries_knowledgearticle a CROSS JOIN c
WHERE a.is_published AND a.search_vector @@ %(any)s::tsquery
GROUP BY a.id, a.slug, a.title, a.body
ORDER BY score DESC, a.title
LIMIT %(limit)s
"""


def idfs(found: list[Concept]) -> list[float]:
    if not found:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_IDF_SQL, [[c.query for c in found]])
        return [float(idf) for _, idf in cursor.fetchall()]


def search(text: str, *, limit: int = 3, found: list[Concept] | None = None,
           weights: list[float] | None = None) -> list[dict[str, Any]]:
    """Published articles covering the text, best first: {"slug", "title", "body", "rank"}, rank in [0, 1]."""
    found = concepts(text) if found is None else found
    if not found:
        return []
    weights = idfs(found) if weights is None else weights  # a caller that scores passages has them
    any_of = " | ".join(f"( {c.query} )" for c in found)
    with connection.cursor() as cursor:
        cursor.execute(_SEARCH_SQL, {
            "q": [c.query for c in found], "own": [c.own for c in found], "w": [c.weight for c in found],
            "idf": weights, "body": BODY_WEIGHT, "synonym": SYNONYM_WEIGHT, "total": sum(weights),
            "any": any_of, "limit": limit})
        return [{"slug": slug, "title": title, "body": body, "rank": round(float(score), 4)}
                for slug, title, body, score in cursor.fetchall()]


_PASSAGES_SQL = """
WITH c AS (SELECT q::tsquery AS q, w FROM unnest(%s::text[], %s::float8[]) AS c(q, w)),
p AS (SELECT i, to_tsvector('english', t) AS v FROM unnest(%s::text[]) WITH ORDINALITY AS p(t, i))
SELECT p.i, coalesce(sum(c.w) FILTER (WHERE p.v @@ c.q), 0) FROM p CROSS JOIN c GROUP BY p.i ORDER BY p.i
"""


def coverage(found: list[Concept], weights: list[float], texts: list[str]) -> list[float]:
    """For each text, the weighted share of the concepts it contains (weights: the concepts' idf)."""
    if not found or not texts:
        return [0.0] * len(texts)
    total = sum(weights) or 1.0
    with connection.cursor() as cursor:
        cursor.execute(_PASSAGES_SQL, [[c.query for c in found], [c.weight * w for c, w in zip(found, weights, strict=True)],
                                       texts])
        return [float(score) / total for _, score in cursor.fetchall()]
