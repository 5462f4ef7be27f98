"""Writes. Interfaces call one of these; each keeps its own transaction and invariants.

    clients      API clients and their keys
    intake       webhook intake: an inquiry accepted once per idempotency key
    leases       a run's lease: claim, renew, release, hand back, reap; the lease guard
    runs         what happens to a run: a step recorded, the run finished, deleted
    audit        the audit log of what outlives its subject (a deleted run, a sign-in lock-out)
    crm          contacts and lead scores
    email        the reply e-mail, sent at most once
    escalations  operator actions on escalated runs
    privacy      one person's data: exported, or erased everywhere
    retention    the retention window: expired runs purged with what belongs to them
    webhooks     outbound webhooks: subscriptions, deliveries queued with their change, the sender

`from inquiries import services; services.run_claim(...)`: every name below is the same object
as in its module.
"""

from inquiries.errors import ActionRefused

from ._common import RUN_STEP_FIELDS
from ._pipeline import Statement, send
from .audit import audit_record
from .clients import api_client_create, api_client_set_active
from .crm import contact_record_inquiry, contact_statements, lead_score_statements
from .email import (
    ReplyAttempt,
    email_retry,
    email_send_again,
    outbound_email_send_once,
    own_address,
    reply_send_once,
    reply_subject,
)
from .escalations import run_assign, run_draft_update, run_replay, run_reply_approve, run_resolve
from .intake import SIGNED_KEYS, Acceptance, Caller, body_fingerprint, inquiry_accept
from .leases import (
    HOLD_LEASE_SQL,
    LEASE_LOST_SQLSTATE,
    Busy,
    Lease,
    LeaseLost,
    leases_hand_back,
    leases_renew,
    run_claim,
    run_release,
    runs_reap,
    send_held,
)
from .privacy import address_hash, contact_erase, contact_export
from .retention import runs_purge_expired
from .runs import (
    STEP_EVENT,
    inquiry_delete,
    run_delete,
    run_finish_under_lease,
    run_step_record,
)
from .webhooks import deliver_due as webhooks_deliver_due
from .webhooks import redeliver as webhook_redeliver
from .webhooks import subscription_create as webhook_subscription_create
from .webhooks import subscription_rotate as webhook_subscription_rotate

__all__ = [
    # clients
    "api_client_create", "api_client_set_active",
    # intake
    "SIGNED_KEYS", "Acceptance", "Caller", "body_fingerprint", "inquiry_accept",
    # leases
    "HOLD_LEASE_SQL", "LEASE_LOST_SQLSTATE", "Busy", "Lease", "LeaseLost", "leases_hand_back", "leases_renew",
    "run_claim", "run_release", "runs_reap", "send_held",
    # runs
    "RUN_STEP_FIELDS", "STEP_EVENT", "inquiry_delete", "run_delete",
    "run_finish_under_lease", "run_step_record",
    # crm
    "contact_record_inquiry", "contact_statements", "lead_score_statements",
    # email
    "ReplyAttempt", "email_retry", "email_send_again", "outbound_email_send_once", "own_address",
    "reply_send_once", "reply_subject",
    # escalations
    "ActionRefused", "run_assign", "run_draft_update", "run_replay", "run_reply_approve", "run_resolve",
    # audit
    "audit_record",
    # privacy, retention
    "address_hash", "contact_erase", "contact_export", "runs_purge_expired",
    # webhooks
    "webhook_redeliver", "webhook_subscription_create", "webhook_subscription_rotate", "webhooks_deliver_due",
    # pipelined SQL
    "Statement", "send",
]
