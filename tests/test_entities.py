"""Entities (orchestration/analysis/entities.py) on realistic e-mails: reference numbers, amounts
in the ways people write them, seats, products, links and addresses; caps and linear time."""

import time

import pytest

from orchestration.analysis.entities import EMPTY, MAX_ITEMS, extract_entities

PRODUCTS = [("Starter", ["Starter plan"]), ("Business", ["Business plan"]), ("Pro", []),
            ("Salesforce integration", ["Salesforce", "SFDC"])]


def _amounts(text):
    return [(a["value"], a["currency"], a["text"]) for a in extract_entities("", text)["amounts"]]


def test_the_keys_are_exactly_these_and_empty_text_has_none():
    found = extract_entities("", "")
    assert tuple(found) == EMPTY
    assert all(value == [] for value in found.values())


@pytest.mark.parametrize(("text", "expected"), [
    ("It costs $49 per seat.", [(49.0, "USD", "$49")]),
    ("Wir zahlen €1.200,50 pro Monat.", [(1200.5, "EUR", "€1.200,50")]),
    ("Our budget is 1,200 EUR a month.", [(1200.0, "EUR", "1,200 EUR")]),
    ("We have USD 5k for this.", [(5000.0, "USD", "USD 5k")]),
    ("Le devis était de 49 € par mois.", [(49.0, "EUR", "49 €")]),
    ("Price was £19.99, now 300 euros.", [(19.99, "GBP", "£19.99"), (300.0, "EUR", "300 euros")]),
    ("A budget of CHF 2'500 and $1.5m later.", [(2500.0, "CHF", "CHF 2'500"), (1_500_000.0, "USD", "$1.5m")]),
    ("We are 40 people in 2026, room 12.", []),
])
def test_amounts_with_their_currency(text, expected):
    assert _amounts(text) == expected


def test_reference_numbers_of_a_billing_e_mail():
    found = extract_entities(
        "Invoice INV-2024-0193 for order #48213",
        "Hello, invoice INV-2024-0193 charges us twice for order #48213. I opened ticket TCK-7781 "
        "last week and another one, ticket 5521, today. Our PO-99812 is attached.",
    )
    assert found["order_numbers"] == [
        {"kind": "invoice", "value": "INV-2024-0193"}, {"kind": "order", "value": "48213"},
        {"kind": "ticket", "value": "TCK-7781"}, {"kind": "ticket", "value": "5521"},
        {"kind": "order", "value": "PO-99812"},
    ]


def test_reference_numbers_in_other_languages():
    found = extract_entities("", "Bitte prüfen Sie die Rechnung Nr. 2024113 zur Bestellung 55120.")
    assert found["order_numbers"] == [{"kind": "invoice", "value": "2024113"}, {"kind": "order", "value": "55120"}]


def test_reference_patterns_come_from_the_settings():
    """The patterns are compiled when the module is imported (so tests/test_redos.py scans them)."""
    from django.conf import settings

    from orchestration.analysis import entities

    assert [p.pattern for p in entities.REFERENCE_PATTERNS["ticket"]] == settings.ENTITY_REFERENCE_PATTERNS["ticket"]


@pytest.mark.parametrize(("text", "seats"), [
    ("We need 40 seats from next month.", [40]),
    ("We are a team of 25 agents.", [25]),
    ("Our team of 12 would start on Monday; later 30 users.", [12, 30]),
    ("Wir brauchen 15 Lizenzen für 20 Mitarbeiter.", [15, 20]),
    ("Nous avons 8 utilisateurs et 3 agents.", [8, 3]),
    ("Somos 10 usuarios.", [10]),
    ("Wij hebben 6 gebruikers.", [6]),
    ("A 50-seat licence, then 50 seats again.", [50]),
    ("0 users so far; revenue 2,000,000 users is absurd.", []),
])
def test_seats(text, seats):
    assert extract_entities("", text)["seats"] == seats


def test_products_by_name_and_alias_in_canonical_form():
    found = extract_entities(
        "Upgrade from the starter plan",
        "We are on Starter and want the Business plan with SFDC sync. Is PRO cheaper? "
        "Our business grows, so pro rata billing would help.",
        products=PRODUCTS,
    )
    assert found["products"] == ["Starter", "Business", "Salesforce integration", "Pro"]


def test_links_and_addresses_are_listed_and_do_not_feed_other_entities():
    found = extract_entities(
        "", "See https://status.example.com/incidents/48213. and mail Billing@Example.com or "
        "www.example.org/pricing?seats=40, then bob@example.com again: bob@example.com",
    )
    assert found["urls"] == ["https://status.example.com/incidents/48213", "www.example.org/pricing?seats=40"]
    assert found["emails"] == ["billing@example.com", "bob@example.com"]
    assert found["seats"] == []
    assert found["order_numbers"] == []


def test_lists_are_deduplicated_and_capped():
    text = " ".join(f"ticket TCK-{1000 + i} costs ${i + 1} for {i + 1} seats" for i in range(60))
    found = extract_entities("", text + " ticket TCK-1000")
    assert len(found["order_numbers"]) == MAX_ITEMS
    assert found["order_numbers"][0] == {"kind": "ticket", "value": "TCK-1000"}
    assert len(found["amounts"]) == MAX_ITEMS
    assert len(found["seats"]) == MAX_ITEMS


def test_a_huge_adversarial_inquiry_is_fast():
    products = [(f"Product {i}", [f"P{i} alias", f"Alias{i}"]) for i in range(50)]
    for body in ("1" * 200_000, "1,000," * 30_000, "€" * 100_000, "team of " * 20_000, "Product " * 20_000):
        start = time.perf_counter()
        extract_entities("x" * 5000, body, products=products)
        assert time.perf_counter() - start < 1.0


@pytest.mark.django_db
def test_products_come_from_the_admin_and_only_active_ones_count(operator_client):
    from inquiries import selectors
    from inquiries.models import ProductName

    response = operator_client.post("/admin/inquiries/productname/add/", {
        "name": "Business", "aliases": "Business plan, biz plan\nBusiness\n\nBUSINESS PLAN", "is_active": "on",
    })
    assert response.status_code == 302
    ProductName.objects.create(name="Legacy", aliases="Old plan", is_active=False)
    ProductName.objects.create(name="Analytics add-on", aliases="")
    assert selectors.product_names() == [("Analytics add-on", []), ("Business", ["Business plan", "biz plan"])]
    assert "Business" in operator_client.get("/admin/inquiries/productname/").content.decode()

    found = extract_entities("", "Is the biz plan or the Old plan cheaper than the analytics ADD-ON?",
                             products=selectors.product_names())
    assert found["products"] == ["Business", "Analytics add-on"]


@pytest.mark.django_db
def test_demo_data_seeds_the_plans_of_the_knowledge_base():
    import io

    from django.core.management import call_command

    from inquiries import selectors
    from inquiries.demo_data import KNOWLEDGE_BASE, PRODUCTS

    call_command("load_demo_data", stdout=io.StringIO())
    names = [name for name, _ in selectors.product_names()]
    assert sorted(names) == sorted(name for name, _ in PRODUCTS)
    pricing = next(a["body"] for a in KNOWLEDGE_BASE if a["slug"] == "plans-and-pricing")
    assert all(plan in pricing for plan in ("Starter", "Growth", "Enterprise"))
