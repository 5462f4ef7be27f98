import re
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Header, Router

from inquiries import services
from inquiries.api.v1 import ratelimit, stream_token
from inquiries.api.v1.gate import IntakeGate
from inquiries.api.v1.schemas import ErrorOut, InquiryRequest, WebhookResponse, without_nul
from inquiries.errors import InvalidRequest

router = Router(tags=["webhook"])

# 1–255 printable ASCII characters (RFC draft "Idempotency-Key", Stripe's limit).
IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
ERRORS = dict.fromkeys((401, 409, 413, 415, 422, 429, 500, 503), ErrorOut)


def poll_url(run_id: UUID) -> str:
    return f"/api/v1/status/{run_id}"


@router.post(
    "/webhook",
    auth=IntakeGate(),
    response={200: WebhookResponse, **ERRORS},
    summary="Submit an inquiry",
    description=(
        "Accepts an inquiry and answers once the run, its idempotency claim and its queued task are "
        "committed. Same `Idempotency-Key` and body: the same `run_id` again with "
        "`idempotent_replay: true`; same key, other body: 422 `idempotency_key_reused`. When "
        "`WEBHOOK_SIGNING_SECRET` is set, Standard Webhooks headers are required and `webhook-id` "
        "is the idempotency key (for every caller; an `Idempotency-Key` header is then ignored). "
        "`ws_url` follows the run live with its `stream_token`. 503 with `Retry-After` when nothing could be stored."
    ),
    # OpenAPI links: what a client (and schemathesis' stateful tests) can do with the run_id.
    openapi_extra={"responses": {200: {"links": {
        name: {"operationId": f"inquiries_api_v1_routers_runs_{operation}",
               "parameters": {"run_id": "$response.body#/run_id"}}
        for name, operation in (("GetStatus", "get_status"), ("GetSteps", "get_steps"), ("GetRun", "get_run"),
                                ("DeleteRun", "delete_run"))
    }}}},
)
def create_inquiry(
    request: HttpRequest,
    response: HttpResponse,
    payload: InquiryRequest,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", min_length=1, max_length=255,
                                         pattern=IDEMPOTENCY_KEY.pattern,
                                         description="1–255 printable ASCII characters, scoped to the caller."),
):
    # A signed request's webhook-id is its only idempotency key, in one namespace for all callers:
    # a captured request cannot be replayed with an Idempotency-Key of its own or under another key.
    signed = request.webhook_id is not None
    key = request.webhook_id if signed else idempotency_key
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise InvalidRequest("Idempotency-Key must be 1–255 printable ASCII characters.",
                             details=[{"loc": ["header", "Idempotency-Key"], "msg": "invalid format", "type": "value_error"}])
    accepted = services.inquiry_accept(
        data=payload.model_dump(), raw_payload=without_nul(request.parsed_json), caller=request.auth,
        idempotency_key=key, fingerprint=services.body_fingerprint(request.body),
        key_owner=services.SIGNED_KEYS if signed else None,
    )
    ratelimit.copy_headers(request, response)
    if accepted.replay:
        response["Idempotent-Replayed"] = "true"
    token = stream_token.issue(run_id=accepted.run_id, caller=request.auth)
    return WebhookResponse(
        run_id=accepted.run_id, status=accepted.status, poll_url=poll_url(accepted.run_id),
        idempotent_replay=accepted.replay, stream_token=token, ws_url=stream_token.ws_url(accepted.run_id, token),
        message="Inquiry already accepted; this is the same run." if accepted.replay
        else "Inquiry accepted; the workflow is running.",
    )
