from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Query, Router

from inquiries import payloads, selectors, services
from inquiries.api.v1.auth import AdminKey, ReadKey, StaffSession
from inquiries.api.v1.schemas import DeleteOut, ErrorOut, RunListItem, RunStatusOut, StepOut
from inquiries.models import Intent, RunStatus

READ_AUTH = [ReadKey(), StaffSession()]
ERRORS = dict.fromkeys((401, 404, 422, 500, 503), ErrorOut)

router = Router(tags=["runs"], auth=READ_AUTH)


def _found(value, run_id: UUID):
    """The value, or the API's 404 for an unknown run."""
    if value is None:
        raise Http404(f"No run {run_id}.")
    return value


@router.get("/status/{run_id}", response={200: RunStatusOut, **ERRORS}, summary="Run status (Redis first)")
def get_status(request: HttpRequest, run_id: UUID):
    return _found(selectors.run_status(run_id=run_id), run_id)


@router.get("/status/{run_id}/steps", response={200: list[StepOut], **ERRORS}, summary="Run steps, oldest first")
def get_steps(request: HttpRequest, run_id: UUID):
    return _found(selectors.run_steps(run_id=run_id), run_id)


@router.get("/runs", response={200: list[RunListItem], **ERRORS}, summary="Recent runs, newest first")
def list_runs(
    request: HttpRequest,
    response: HttpResponse,
    limit: int = Query(20, ge=1, le=100),
    offset: int = Query(0, ge=0, le=1_000_000),
    status: RunStatus | None = None,
    intent: Intent | None = None,
    q: str | None = Query(None, max_length=200, pattern=r"^[^\x00]*$",
                          description="Part of the sender's name or e-mail, or the subject."),
):
    runs = selectors.run_list(status=status or "", intent=intent or "", q=(q or "").strip())
    response["X-Total-Count"] = str(runs.count())
    return [payloads.run_list_item(run) for run in runs[offset:offset + limit]]


@router.get("/runs/{run_id}", response={200: RunStatusOut, **ERRORS}, summary="Full run status from PostgreSQL")
def get_run(request: HttpRequest, run_id: UUID):
    return _found(selectors.run_status_from_db(run_id=run_id), run_id)


@router.delete("/runs/{run_id}", auth=AdminKey(), response={200: DeleteOut, **ERRORS},
               summary="Delete a run, its steps, events and Redis keys")
def delete_run(request: HttpRequest, run_id: UUID):
    return DeleteOut(deleted=services.run_delete(run_id=run_id), run_id=run_id)

