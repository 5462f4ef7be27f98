"""GET /api/v1/stats: the reports (inquiries/reports.py) for callers that read every run (a
read_all key, the bootstrap key, a staff session). A read_own or intake key is refused (403): the
figures cover every client's runs."""

from datetime import date
from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from inquiries import reports
from inquiries.api.v1 import ratelimit
from inquiries.api.v1.auth import ReadKey, StaffSession
from inquiries.api.v1.schemas import ErrorOut
from inquiries.errors import Forbidden
from inquiries.models import ConfidenceBand, Intent
from inquiries.services import Caller

ERRORS = dict.fromkeys((401, 403, 422, 429, 500, 503), ErrorOut)

router = Router(tags=["reports"], auth=[ReadKey(), StaffSession()])


class FirstResponseOut(Schema):
    responded: int
    automatic: int
    operator: int
    p50_seconds: float | None
    p90_seconds: float | None
    avg_seconds: float | None


class ResolutionOut(Schema):
    resolved: int
    open: int
    p50_seconds: float | None
    p90_seconds: float | None
    avg_seconds: float | None


class OperatorActionsOut(Schema):
    assigned: int
    draft_edited: int
    reply_sent: int
    resolved: int
    replayed: int
    note: int
    total: int


class FallbacksOut(Schema):
    runs: int
    events: int


class FiguresOut(Schema):
    runs: int
    finished: int
    automated: int
    automation_rate: float | None
    escalated: int
    escalation_rate: float | None
    escalation_reasons: dict[str, int]
    first_response: FirstResponseOut
    resolution: ResolutionOut
    operator_actions: OperatorActionsOut
    fallbacks: FallbacksOut


class SeriesItemOut(FiguresOut):
    start: date


class BreakdownOut(FiguresOut):
    key: str


class StatsFiltersOut(Schema):
    intent: str
    band: str
    language: str


class StatsOut(Schema):
    period: Literal["day", "week", "month"]
    since: date
    until: date
    filters: StatsFiltersOut
    totals: FiguresOut
    series: list[SeriesItemOut]
    by_intent: list[BreakdownOut]
    by_band: list[BreakdownOut]
    by_language: list[BreakdownOut]


@router.get("/stats", response={200: StatsOut, **ERRORS}, summary="Reports: automation, escalations, response times")
def get_stats(
    request: HttpRequest,
    response: HttpResponse,
    period: Literal["day", "week", "month"] = "day",
    since: date | None = Query(None, description="First day (UTC), included; default: 29 days before `until`."),
    until: date | None = Query(None, description="Last day (UTC), included; default: today, or 29 days after `since`. "
                                                 f"A longer range than {reports.MAX_DAYS} days is cut to those that end here."),
    intent: Intent | None = None,
    band: ConfidenceBand | None = None,
    language: str | None = Query(None, pattern=r"^[A-Za-z]{2}$", description="ISO 639-1 code, such as en."),
):
    caller: Caller = request.auth
    if not caller.reads_all:
        raise Forbidden("Reports cover every run: they need the read_all scope.")
    query = reports.report_query(period=period, since=since, until=until, intent=intent or "", band=band or "",
                                 language=language or "")
    ratelimit.copy_headers(request, response)
    return reports.report(query)
