"""Knowledge-base retrieval quality: the questions of orchestration/data/kb_questions.jsonl (each
with the article that answers it, or "" when none does) against the demo knowledge base.

    .venv/bin/python -m bench.retrieval
    .venv/bin/python -m bench.retrieval --database-url postgres://…   # a PostgreSQL of yours (migrated)

Starts a throw-away PostgreSQL (scripts/stack.py), migrates, loads the demo knowledge base, and
prints per method: hit@1 and hit@3 (the expected article first / among the first three) and MRR
over the answerable questions, regardless of the threshold; answered@1, the share of answerable
questions whose first article is right and reaches the threshold; and no-answer precision and
recall (a question is predicted unanswerable when no article reaches the threshold). Methods:
- fulltext: the search before inquiries/kb_search.py (ts_rank over the question's lexemes OR-ed),
  threshold 0.2 (KB_MIN_RANK's old default);
- kb_search without synonyms, without trigram correction, and complete, at `--threshold`;
then both methods' figures at other thresholds. The question set was written
together with the synonym list, so the figures are optimistic for unseen wording.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

from scripts.stack import Stack

QUESTIONS = Path(__file__).resolve().parent.parent / "orchestration" / "data" / "kb_questions.jsonl"

# The search as it was: the text's lexemes joined with OR, ranked by ts_rank (weights A/B).
FULLTEXT_SQL = """
SELECT a.slug, ts_rank(a.search_vector, q.query) AS rank
FROM inquiries_knowledgearticle a,
     (SELECT to_tsquery('english', array_to_string(tsvector_to_array(to_tsvector('english', %s)), ' | ')) AS query) q
WHERE a.is_published AND q.query <> ''::tsquery AND a.search_vector @@ q.query
ORDER BY rank DESC, a.title
LIMIT %s
"""


def fulltext(question: str) -> list[tuple[str, float]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(FULLTEXT_SQL, [question, 10])
        return [(slug, float(rank)) for slug, rank in cursor.fetchall()]


def kb(question: str) -> list[tuple[str, float]]:
    from inquiries import kb_search

    return [(hit["slug"], hit["rank"]) for hit in kb_search.search(question, limit=10)]


def evaluate(rows: list[dict], results: list[list[tuple[str, float]]], threshold: float) -> dict:
    answerable = [(row, found) for row, found in zip(rows, results, strict=True) if row["slug"]]
    ranks = [next((i for i, (slug, _) in enumerate(found, 1) if slug == row["slug"]), None) for row, found in answerable]
    predicted_none = [not found or found[0][1] < threshold for found in results]
    truly_none = [not row["slug"] for row in rows]
    both = sum(p and t for p, t in zip(predicted_none, truly_none, strict=True))
    answered = sum(bool(found) and found[0][0] == row["slug"] and found[0][1] >= threshold
                   for row, found in answerable)
    return {
        "hit@1": sum(r == 1 for r in ranks) / len(ranks),
        "hit@3": sum(r is not None and r <= 3 for r in ranks) / len(ranks),
        "mrr": sum(1 / r for r in ranks if r) / len(ranks),
        "answered@1": answered / len(ranks),
        "none_precision": both / max(sum(predicted_none), 1),
        "none_recall": both / max(sum(truly_none), 1),
    }


def run(rows: list[dict], threshold: float) -> None:
    from inquiries import kb_search

    def show(name: str, figures: dict, at: float) -> None:
        print(f"{name:<26} {at:>5.2f} " + " ".join(f"{figures[k]:>10.3f}" for k in figures))

    print(f"{len(rows)} questions, {sum(1 for r in rows if not r['slug'])} without an answer\n")
    print(f"{'method':<26} {'thr':>5} " + " ".join(f"{k:>10}" for k in (
        "hit@1", "hit@3", "mrr", "answered@1", "none_prec", "none_rec")))
    before = [fulltext(r["question"]) for r in rows]
    show("fulltext (before)", evaluate(rows, before, 0.2), 0.2)
    similarity = kb_search.MIN_SIMILARITY
    kb_search.MIN_SIMILARITY = 1.01  # exact words only
    show("kb_search, no trigram", evaluate(rows, [kb(r["question"]) for r in rows], threshold), threshold)
    kb_search.MIN_SIMILARITY = similarity
    synonyms = kb_search._synonyms
    kb_search._synonyms = lambda: ()
    show("kb_search, no synonyms", evaluate(rows, [kb(r["question"]) for r in rows], threshold), threshold)
    kb_search._synonyms = synonyms
    started = time.perf_counter()
    complete = [kb(r["question"]) for r in rows]
    per_question_ms = (time.perf_counter() - started) * 1000 / len(rows)
    show("kb_search (after)", evaluate(rows, complete, threshold), threshold)
    print()
    for at in (0.1, 0.3, 0.4, 0.5):
        show("fulltext at threshold", evaluate(rows, before, at), at)
    for at in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5):
        show("kb_search at threshold", evaluate(rows, complete, at), at)
    print(f"\nkb_search: {per_question_ms:.1f} ms per question (3 queries: words, idf, search)")
    misses = [(r["question"], r["slug"], found[:2]) for r, found in zip(rows, complete, strict=True)
              if (found[0][0] if found and found[0][1] >= threshold else "") != r["slug"]]
    print(f"\nwrong at {threshold}: {len(misses)}")
    for question, slug, found in misses:
        print(f"  {question!r} expected {slug or '(none)'}: {found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threshold", type=float, default=None, help="default: settings.KB_MIN_RANK")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "autoflow.settings", "LOG_LEVEL": "WARNING"}
    stack = Stack(env, database_url=args.database_url or None).start()
    try:
        os.environ.update({k: v for k, v in stack.env.items() if k in ("DATABASE_URL", "REDIS_URL",
                                                                       "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")})
        import django

        django.setup()
        from django.conf import settings

        from testutils.workflow import load_knowledge_base

        load_knowledge_base()
        run(rows, settings.KB_MIN_RANK if args.threshold is None else args.threshold)
    finally:
        stack.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
