"""The built-in classifier's quality, measured on inquiries it was not trained on, and the
`evaluate_classifier` command's output."""

import json
import random
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from orchestration.engines import builtin
from orchestration.engines.classifier import (
    DATA_DIR,
    IntentClassifier,
    read_examples,
    training_examples,
)
from orchestration.evaluation import evaluate

HOLDOUT = Path(__file__).parent / "data" / "holdout_inquiries.jsonl"


def split(examples, fraction=0.2, seed=7):
    by_label: dict[str, list] = {}
    for example in examples:
        by_label.setdefault(example.label_fine, []).append(example)
    rng = random.Random(seed)
    train, test = [], []
    for group in by_label.values():
        group = sorted(group, key=lambda e: e.body)
        rng.shuffle(group)
        cut = max(1, int(len(group) * fraction))
        test += group[:cut]
        train += group[cut:]
    return train, test


def test_family_accuracy_on_held_out_inquiries_is_at_least_90_percent():
    """Trained without a fifth of the labelled set (stratified, seeded), scored on that fifth."""
    train, test = split(training_examples())
    classifier = IntentClassifier(train)

    report = evaluate(test, lambda s, b: classifier.predict(s, b).intent)

    assert report.n >= 300
    assert report.family_accuracy >= 0.90, "\n".join(report.lines())
    assert min(s["f1"] for s in report.per_family().values()) >= 0.85


def test_business_emails_written_apart_from_the_training_set_are_routed():
    """Our own hand-written e-mail-style inquiries (with subjects), never used in training."""
    report = evaluate(read_examples(HOLDOUT), lambda s, b: builtin.classify(s, b).intent)

    assert report.family_accuracy >= 0.80, "\n".join(report.lines())


def test_the_confidence_separates_right_from_wrong_routes():
    train, test = split(training_examples())
    classifier = IntentClassifier(train)
    predictions = [(classifier.predict(e.subject, e.body), e) for e in test]
    confident = [p.family == e.label_family for p, e in predictions if p.confidence >= 0.6]
    doubtful = [p.family == e.label_family for p, e in predictions if p.confidence < 0.6]

    assert sum(confident) / len(confident) > sum(doubtful) / len(doubtful) + 0.2


def test_the_training_data_is_shipped_with_its_licences():
    assert (DATA_DIR / "README.md").exists()
    assert {p.name for p in (DATA_DIR / "licenses").iterdir()} >= {"banking77.txt", "bitext.txt", "clinc150.txt",
                                                                     "hint3.txt"}
    extra = read_examples(DATA_DIR / "inquiries_extra.jsonl")
    assert {e.label_fine for e in extra} == set(builtin.INTENT_FAMILY)
    holdout_bodies = {e.body for e in read_examples(HOLDOUT)}
    assert not holdout_bodies & {e.body for e in training_examples()}


def test_evaluate_classifier_prints_the_report_and_ends_with_json(capsys):
    call_command("evaluate_classifier", str(HOLDOUT))

    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "inquiries: 34"
    assert any(line.startswith("family accuracy:") for line in out)
    assert any("confusion" in line for line in out)
    assert out[-2].startswith("support")  # the confusion matrix's last row
    summary = json.loads(out[-1])
    assert set(summary) == {"family_accuracy", "fine_accuracy", "n"}
    assert summary["n"] == 34
    assert summary["family_accuracy"] >= 0.8


def test_evaluate_classifier_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "", "body": "hi", "label_fine": "banana"}\n')

    with pytest.raises(CommandError, match="unknown label_fine"):
        call_command("evaluate_classifier", str(bad))


def test_evaluate_classifier_on_ollama_needs_a_reachable_model(settings):
    settings.OLLAMA_BASE_URL = "http://127.0.0.1:9"
    from orchestration.engines.probe import probe_ollama

    probe_ollama(use_cache=False)
    with pytest.raises(CommandError, match="Ollama is not usable"):
        call_command("evaluate_classifier", str(HOLDOUT), "--backend", "ollama")
