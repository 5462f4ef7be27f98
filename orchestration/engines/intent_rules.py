"""High-precision phrase rules that inform the built-in classifier (docs/workflow.md, "The built-in
classifier").

A rule is an unambiguous phrase and the intent it speaks for. It does not decide the route: when
its phrase is in the inquiry, the model's probability of that intent is multiplied by the rule's
`boost` and the probabilities are normalised again (a prior, in Bayes' terms). A clear model
opinion the other way still wins: with a boost of 4, the model must give the rule's intent at
least 1/5 of the odds of its favourite for the rule to tip it. Several matching rules each apply
their boost once.

Every pattern is a fixed phrase with small alternations between word boundaries: linear time on
any text (tests/test_redos.py).
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern
    intent: str
    boost: float


def _rule(name: str, phrase: str, intent: str, boost: float = 4.0) -> Rule:
    return Rule(name=name, pattern=re.compile(rf"\b(?:{phrase})\b"), intent=intent, boost=boost)


_A = r"(?:a |an |the |your |some |our )?"
_NOT_WORKING = r"(?:is ?n[o'’]?t|are ?n[o'’]?t|does ?n[o'’]?t|do ?n[o'’]?t|not|stopped|never) (?:working|work|load|loading|sync|syncing|firing|fire)"

RULES: tuple[Rule, ...] = (
    _rule("talk to sales", rf"(?:talk|speak|chat|get in touch|connect me|put me in touch) (?:to|with) {_A}sales", "sales"),
    _rule("buy licences", r"(?:buy|purchase|order) (?:\d+ |more |additional )?(?:licen[cs]es?|seats|subscriptions?)", "sales", 2.5),
    _rule("quote", r"(?:a |formal |written )quote|quotation|request for proposal|\brfp", "pricing", 2.5),
    _rule("book a demo", rf"(?:book|schedule|arrange|set up|request|get|see|want|need|like) {_A}(?:live |quick |short |product |personal(?:i[sz]ed)? )?(?:demo|demonstration|walk-?through)", "demo_request", 3.0),
    _rule("demo", r"demo|demonstration", "demo_request", 2.0),
    _rule("pricing", r"pricing|price list|prices|price|how much (?:does|do|is|would|will)|cost per|per seat cost", "pricing", 2.5),
    _rule("is it free", r"is (?:it|this|that|the (?:app|tool|product|platform|software)) (?:really |completely |totally )?free", "pricing"),
    _rule("discount", r"discount|nonprofit pricing|startup pricing|annual plan price", "pricing", 2.5),
    _rule("charged twice", r"charged (?:us |me )?twice|double[- ]charged?|charged two times|duplicate (?:charge|payment)", "billing_issue", 6.0),
    _rule("refund", r"refund|wrong invoice|invoice is wrong|overcharged|charged (?:us |me )?after|card (?:was )?declined", "billing_issue", 3.0),
    _rule("cancel subscription", r"cancel (?:my|our|the) (?:subscription|plan|contract|renewal)(?! to)", "billing_issue", 2.0),
    _rule("not working", _NOT_WORKING, "bug_report", 3.0),
    _rule("error", r"errors?|exception|stack ?trace|crash(?:es|ed|ing)?|bug|broken|blank (?:page|screen|dashboard)", "bug_report", 2.0),
    _rule("more seats", r"(?:more|additional|extra) (?:seats|users|licen[cs]es)|upgrade (?:to|our|my)|higher (?:plan|tier)", "upgrade", 3.0),
    _rule("password", r"reset (?:my |our )?password|forgot (?:my |our )?password|locked out|can ?n?[o'’]?t log ?in|cannot log ?in", "support", 3.0),
)


def matching(text: str) -> list[Rule]:
    lowered = text.lower()
    return [rule for rule in RULES if rule.pattern.search(lowered)]


def apply(probabilities: dict[str, float], rules: list[Rule]) -> dict[str, float]:
    """The probabilities with each matching rule's intent multiplied by its boost, normalised."""
    if not rules:
        return probabilities
    boosted = dict(probabilities)
    for rule in rules:
        if rule.intent in boosted:
            boosted[rule.intent] *= rule.boost
    total = sum(boosted.values())
    return {intent: p / total for intent, p in boosted.items()}
