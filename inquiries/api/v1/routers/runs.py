"""The read routes and DELETE. Who sees which run: a caller with read_all (the bootstrap key, a
staff session, a read_all client) sees every run; a read_own client only the runs it submitted.
Any other run is answered exactly like an unknown one (404), so a key learns nothing of runs
that are not its own, not even that they exist."""

from urllib.parse import urlencode
from uuid import UUID

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Query, Router

from inquiries import payloads, selectors, services
from inquiries.api.v1 import pagination, ratelimit
from inquiries.api.v1.auth import ADMIN, AdminKey, DeleteKey, ReadKey, StaffSession
from inquiries.api.v1.schemas import DeleteOut, ErrorOut, RunListItem, RunStatusOut, StepOut
from inquiries.models import Intent, RunStatus
from inquiries.services import Caller

READ_AUTH = [ReadKey(), StaffSession()]
ERRORS = dict.fromkeys((401, 403, 404, 422, 429, 500, 503), ErrorOut)
MAX_OFFSET = 10_000

router = Router(tags=["runs"], auth=READ_AUTH)


def _sees_all(caller: Caller) -> bool:
    return caller.reads_all or caller.identity == ADMIN


def _visible(request: HttpRequest, run_id: UUID) -> None:
    """Http404 unless the caller may see this run (the same answer as for an unknown run)."""
    caller: Caller = request.auth
    if _sees_all(caller):
        return
    if caller.api_client_id is None or not selectors.run_submitted_by(run_id=run_id, api_client_id=caller.api_client_id):
        raise Http404(f"No run {run_id}.")


def _found(value, run_id: UUID):
    """The value, or the API's 404 for an unknown run."""
    if value is None:
        raise Http404(f"No run {run_id}.")
    return value


@router.get("/status/{run_id}", response={200: RunStatusOut, **ERRORS}, summary="Run status (Redis first)")
def get_status(request: HttpRequest, response: HttpResponse, run_id: UUID):
    _visible(request, run_id)
    ratelimit.copy_headers(request, response)
    return _found(selectors.run_status(run_id=run_id), run_id)


@router.get("/status/{run_id}/steps", response={200: list[StepOut], **ERRORS}, summary="Run steps, oldest first")
def get_steps(request: HttpRequest, response: HttpResponse, run_id: UUID):
    _visible(request, run_id)
    ratelimit.copy_headers(request, response)
    return _found(selectors.run_steps(run_id=run_id), run_id)


@router.get("/runs", response={200: list[RunListItem], **ERRORS}, summary="Recent runs, newest first")
def list_runs(
    request: HttpRequest,
    response: HttpResponse,
    limit: int = Query(20, ge=1, le=100),
    cursor: pagination.Cursor | None = Query(None, max_length=200,
                                             description="`X-Next-Cursor` of the previous page."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="For compatibility; prefer `cursor` (rows to skip, "
                                                             "after the cursor when both are given)."),
    status: RunStatus | None = None,
    intent: Intent | None = None,
    q: str | None = Query(None, max_length=200, pattern=r"^[^\x00]*$",
                          description="Part of the sender's name or e-mail, or the subject."),
):
    caller: Caller = request.auth
    runs = selectors.run_list(status=status or "", intent=intent or "", q=(q or "").strip(),
                              api_client_id=None if _sees_all(caller) else caller.api_client_id or 0)
    total, exact = selectors.count_bounded(runs, exact_up_to=settings.RUN_LIST_EXACT_COUNT_UP_TO)
    response["X-Total-Count"] = str(total)
    if not exact:
        response["X-Total-Count-Estimated"] = "true"
    page_rows = runs if not cursor else pagination.after(runs, cursor)
    page = list(page_rows[offset:offset + limit + 1])
    if len(page) > limit:
        page = page[:limit]
        next_cursor = pagination.encode(page[-1].created_at, page[-1].pk)
        response["X-Next-Cursor"] = next_cursor
        query = {k: v for k, v in {"limit": limit, "status": status or "", "intent": intent or "", "q": q or "",
                                   "cursor": next_cursor}.items() if v}
        response["Link"] = f'</api/v1/runs?{urlencode(query)}>; rel="next"'
    ratelimit.copy_headers(request, response)
    return [payloads.run_list_item(run) for run in page]


@router.get("/runs/{run_id}", response={200: RunStatusOut, **ERRORS}, summary="Full run status from PostgreSQL")
def get_run(request: HttpRequest, response: HttpResponse, run_id: UUID):
    _visible(request, run_id)
    ratelimit.copy_headers(request, response)
    return _found(selectors.run_status_from_db(run_id=run_id), run_id)


@router.delete("/runs/{run_id}", auth=[AdminKey(), DeleteKey()], response={200: DeleteOut, **ERRORS},
               summary="Delete a run, its steps, events and Redis keys")
def delete_run(request: HttpRequest, run_id: UUID):
    _visible(request, run_id)
    caller: Caller = request.auth
    deleted = services.run_delete(run_id=run_id, actor_label=caller.label, ip=caller.ip)
    return DeleteOut(deleted=deleted, run_id=run_id)
