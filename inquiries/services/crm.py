"""The CRM side of a run: its inquiry counted on the sender's contact, its lead score kept.

The worker writes them as statements of the step that causes them (`contact_statements`,
`lead_score_statements`), committed with that step under its lease; `contact_record_inquiry`
is the ORM path, for a replay (which joins its original's contact)."""

from typing import Any

from django.db import transaction
from django.utils import timezone

from inquiries.models import Contact, Inquiry, LeadScoreEntry, Run

from ._pipeline import Statement, insert_parts, marks
from .leases import Lease


def contact_record_inquiry(*, run_id, intent: str = "") -> Contact | None:
    """Count the run's inquiry on its sender's contact (created on first contact). A replay or a
    resumed run of the same inquiry does not count it twice: the inquiry keeps its contact."""
    with transaction.atomic():
        run = Run.objects.select_related("inquiry").filter(pk=run_id).first()
        if run is None:
            return None
        inquiry = Inquiry.objects.select_for_update().get(pk=run.inquiry_id)
        if inquiry.contact_id is None and run.replay_of_id is not None:
            # A replay re-runs an inquiry already counted: it joins the original's contact.
            original = Inquiry.objects.filter(runs__pk=run.replay_of_id).values_list("contact_id", flat=True).first()
            if original is not None:
                inquiry.contact_id = original
                inquiry.save(update_fields=["contact"])
        if inquiry.contact_id is not None:
            contact = Contact.objects.select_for_update().get(pk=inquiry.contact_id)
            if intent and contact.last_intent != intent:
                contact.last_intent = intent
                contact.save(update_fields=["last_intent", "updated_at"])
            return contact
        contact, _ = Contact.objects.select_for_update().get_or_create(
            email=inquiry.sender_email.strip().lower(), defaults={"name": inquiry.sender_name[:200]})
        contact.inquiry_count += 1
        contact.last_intent = intent
        contact.last_inquiry_at = inquiry.created_at
        if not contact.name:
            contact.name = inquiry.sender_name[:200]
        contact.save()
        inquiry.contact = contact
        inquiry.save(update_fields=["contact"])
    return contact


def contact_statements(lease: Lease, *, intent: str) -> list[Statement] | None:
    """Count the run's inquiry on its sender's contact (created on first contact), as statements
    for the step that records it. An inquiry keeps its contact, so a resumed run does not count
    it twice. None for a replay, which joins its original's contact (`contact_record_inquiry`)."""
    inquiry, now = lease.run.inquiry, timezone.now()
    if inquiry.contact_id is not None:
        return [("UPDATE inquiries_contact SET last_intent = %s, updated_at = %s WHERE id = %s AND last_intent <> %s",
                 [intent, now, inquiry.contact_id, intent])]
    if lease.run.replay_of_id is not None:
        return None
    contact = Contact(email=inquiry.sender_email.strip().lower(), name=inquiry.sender_name[:200], inquiry_count=1,
                      last_intent=intent, last_inquiry_at=inquiry.created_at)
    columns, values = insert_parts(contact)
    return [(
        f"WITH c AS (INSERT INTO inquiries_contact ({', '.join(columns)}) VALUES ({marks(len(values))}) "
        "ON CONFLICT (email) DO UPDATE SET inquiry_count = inquiries_contact.inquiry_count + 1, "
        "last_intent = EXCLUDED.last_intent, last_inquiry_at = EXCLUDED.last_inquiry_at, "
        "name = CASE WHEN inquiries_contact.name = '' THEN EXCLUDED.name ELSE inquiries_contact.name END, "
        "updated_at = EXCLUDED.updated_at RETURNING id) "
        "UPDATE inquiries_inquiry SET contact_id = (SELECT id FROM c) WHERE id = %s AND contact_id IS NULL",
        [*values, inquiry.pk])]


def lead_score_statements(lease: Lease, *, score: int, tier: str, signals: dict[str, Any]) -> list[Statement]:
    """Keep the run's lead score in its sender's history and on the contact (created on first
    contact, not yet counted: the inquiry is counted when the run's audit step records it), as a
    statement for the step that scored it."""
    inquiry = lease.run.inquiry
    contact = Contact(email=inquiry.sender_email.strip().lower(), name=inquiry.sender_name[:200], lead_score=score,
                      lead_tier=tier)
    columns, values = insert_parts(contact)
    entry = LeadScoreEntry(run_id=lease.run_id, score=score, tier=tier, signals=signals)
    entry_columns, entry_values = insert_parts(entry, skip=("contact",))
    return [(
        f"WITH c AS (INSERT INTO inquiries_contact ({', '.join(columns)}) VALUES ({marks(len(values))}) "
        "ON CONFLICT (email) DO UPDATE SET lead_score = EXCLUDED.lead_score, lead_tier = EXCLUDED.lead_tier, "
        "updated_at = EXCLUDED.updated_at RETURNING id) "
        f"INSERT INTO inquiries_leadscoreentry ({', '.join(entry_columns)}, contact_id) "
        f"SELECT {marks(len(entry_values))}, c.id FROM c",
        [*values, *entry_values])]
