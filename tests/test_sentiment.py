"""Sentiment (orchestration/analysis/sentiment.py): VADER's compound score in five bands for
English, "unknown" for other languages, and model labels mapped to the same set."""

import pytest

from orchestration.analysis.sentiment import LABELS, band, normalize_label, sentiment_of

EXAMPLES = {
    "very_negative": [
        "This is absolutely unacceptable. Your product is garbage and I want a refund NOW.",
        "I have been waiting for a week and nobody answered. This is ridiculous, I am cancelling.",
        "Your service is a disgrace. Third outage this month and we lost a whole day of orders.",
        "I am furious. You charged us twice and support keeps ignoring me.",
        "Worst experience ever. The app crashes every hour and your team is incompetent.",
        "I am extremely disappointed and angry. Nothing works and I will talk to my lawyer.",
        "This is the third time I write. The sync is broken AGAIN. Terrible, useless software.",
        "Completely unusable since the update. We are losing customers because of your bugs!",
    ],
    "negative": [
        "The export is broken.",
        "The CSV export is broken since yesterday, please help.",
        "Hi, the login page shows an error when I try to sign in.",
        "Our invoices are wrong: we were charged for 40 seats but we only have 25.",
        "The dashboard is very slow today and some reports fail to load.",
        "Since the last update the integration with Salesforce has stopped syncing. Can you check?",
        "I can't reset my password, the link in the e-mail is expired.",
        "We have a problem with the API: requests time out after 30 seconds.",
    ],
    "neutral": [
        "Can you send me the invoice for order 48213?",
        "We would like a demo of the Business plan.",
        "How do I add a new user to my workspace?",
        "What is the price of the Pro plan for 40 seats?",
        "Please update the billing address on our account to Hauptstrasse 5, Berlin.",
        "Do you support single sign-on with Okta?",
        "Hi, is there an API endpoint for exporting tickets?",
        "We are a team of 25 agents and need to know whether you offer annual billing.",
    ],
    "positive": [
        "Thanks!",
        "Hi, we love the product so far and would like to upgrade to the Business plan.",
        "Thanks for the quick answer. Could you also send the invoice?",
        "The new reports look good. One question: can we schedule them weekly?",
    ],
    "very_positive": [
        "Thank you so much, your team was fantastic!",
        "Great, thanks for the quick fix. Everything works perfectly now.",
        "Thanks a lot for your help, really appreciated!",
        "Amazing support as always, thank you!",
        "We are very happy with AutoFlow, thank you for the excellent onboarding.",
        "Many thanks, that solved it. You are awesome!",
    ],
}


@pytest.mark.parametrize(("expected", "text"), [(label, text) for label, texts in EXAMPLES.items() for text in texts])
def test_english_inquiries_fall_in_their_band(expected, text):
    assert sentiment_of(text, "en") == expected


@pytest.mark.parametrize("language", ["de", "fr", "", "EN-GB"])
def test_other_languages_are_unknown(language):
    assert sentiment_of("Das ist absolut inakzeptabel, Ihr Produkt ist Müll!", language) == "unknown"


def test_empty_text_is_unknown():
    assert sentiment_of("", "en") == "unknown"
    assert sentiment_of("https://example.com a@b.example", "en") == "unknown"


def test_a_quoted_angry_thread_does_not_colour_a_thankful_reply():
    text = ("Thanks a lot, that fixed it!\n\nOn Mon, 1 Dec 2026, Bob wrote:\n"
            "> This is unacceptable garbage, I am furious and want a refund.")
    assert sentiment_of(text, "en") == "very_positive"


def test_bands_follow_the_thresholds(settings):
    assert [band(x) for x in (-0.9, -0.6, -0.3, 0.0, 0.3, 0.69, 0.7)] == [
        "very_negative", "very_negative", "negative", "neutral", "positive", "positive", "very_positive"]
    settings.SENTIMENT_VERY_NEGATIVE = -0.95
    assert band(-0.9) == "negative"


@pytest.mark.parametrize(("label", "expected"), [
    ("Very Negative", "very_negative"), ("very-negative", "very_negative"), ("ANGRY", "very_negative"),
    ("negative", "negative"), (" frustrated ", "negative"), ("neutral", "neutral"),
    ("Positive", "positive"), ("very_positive", "very_positive"), ("grateful", "very_positive"),
    ("sarcastic", "unknown"), ("", "unknown"), (None, "unknown"), (3, "unknown"), ("x" * 10_000, "unknown"),
])
def test_model_labels_map_to_the_closed_set(label, expected):
    assert normalize_label(label) == expected
    assert normalize_label(label) in LABELS
