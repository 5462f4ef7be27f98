"""The operator console: one view per page; an htmx request gets the page's named partial.
Reads go through `inquiries.selectors`, writes through `inquiries.services`."""

from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.client_ip import client_ip
from inquiries import reports, selectors, services
from inquiries.errors import DomainError
from inquiries.models import InquirySource, Run
from orchestration.health import health_report

from . import charts, exports
from .forms import PRESETS, DraftForm, HistoryFilterForm, InquiryForm, ReportFilterForm, ResolveForm
from .languages import KNOWN as KNOWN_LANGUAGES
from .languages import language_name
from .permissions import console_required, is_operator

# The run page's parts that change while it runs: re-rendered for htmx polling and the WebSocket.
LIVE_PARTS = ("header", "timeline", "response", "events")
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _operator_only(request: HttpRequest) -> None:
    if not is_operator(request.user):
        raise PermissionDenied("Only operators can do this.")


def _run_or_404(run_id) -> Run:
    run = selectors.run_get(run_id=run_id)
    if run is None:
        raise Http404("No such run.")
    return run


@console_required
def overview(request: HttpRequest) -> HttpResponse:
    """Health, queue, counts and charts of a time window, and the latest runs."""
    window = request.GET.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    until = timezone.now()
    since = until - WINDOWS[window]
    stats = selectors.run_stats(since=since)
    series = selectors.run_series(since=since, until=until)
    top_intent = max(stats["by_intent"].values(), default=0) or 1
    top_band = max(stats["by_band"].values(), default=0) or 1
    top_language = max(stats["by_language"].values(), default=0) or 1
    context = {
        "health": health_report(), "window": window, "windows": list(WINDOWS), "stats": stats,
        "queue_depth": selectors.queue_depth(), "clusters": selectors.worker_clusters(), "since": since,
        "intent_rows": [(intent, n, round(n / top_intent * 100)) for intent, n in stats["by_intent"].items()],
        "band_rows": [(band, n, round(n / top_band * 100)) for band, n in stats["by_band"].items()],
        "language_rows": [(code, n, round(n / top_language * 100)) for code, n in stats["by_language"].items()],
        "runs_chart": charts.stacked_bars(series), "duration_chart": charts.duration_scatter(stats["points"], since, until),
        "runs": selectors.run_recent(limit=10), "open_escalations": selectors.escalation_queue().count(),
    }
    return render(request, "dashboard/overview.html", context)


def _history_runs(request: HttpRequest):
    """The history's filter form and the runs it selects (an invalid form: no filter)."""
    form = HistoryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    since = filters.get("since")
    until = filters.get("until")
    runs = selectors.run_history(
        status=filters.get("status", ""), intent=filters.get("intent", ""), q=filters.get("q", ""),
        escalated=filters.get("escalated", ""), band=filters.get("band", ""), language=filters.get("language", ""),
        sentiment=filters.get("sentiment", ""),
        since=datetime.combine(since, time.min, tzinfo=UTC) if since else None,
        until=datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1) if until else None,
    )
    return form, runs


@console_required
def history(request: HttpRequest) -> HttpResponse:
    """Every run, filtered by status, intent, escalation, dates and search, 25 a page."""
    form, runs = _history_runs(request)
    page = Paginator(runs, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "languages": KNOWN_LANGUAGES}
    template = "dashboard/history.html#results" if request.htmx else "dashboard/history.html"
    return render(request, template, context)


@console_required
def history_export(request: HttpRequest) -> StreamingHttpResponse:
    """The history's runs, with the same filters, as a CSV file streamed from a server-side cursor."""
    _, runs = _history_runs(request)
    return exports.runs_csv_response(runs)


@console_required
def reports_page(request: HttpRequest) -> HttpResponse:
    """The reports (inquiries/reports.py) of a range, per day, week or month, with charts."""
    form = ReportFilterForm(request.GET or None)
    query = None
    if form.is_valid():
        try:
            query = reports.report_query(**form.cleaned_data)
        except DomainError as refused:
            form.add_error(None, str(refused))
    if query is None and not form.is_bound:
        query = reports.report_query()
    result = reports.report(query) if query is not None else None
    context = {"form": form, "report": result, "languages": KNOWN_LANGUAGES,
               "charts": charts.report_charts(result["series"]) if result else {}}
    return render(request, "dashboard/reports.html", context)


def _entity_groups(entities: dict) -> list[tuple[str, list[str]]]:
    """The run's entities as (label, [text]) groups, in a fixed order, empty groups left out. The
    values come from the inquiry (untrusted): they are shown as text, never as links."""
    def texts(key: str, show) -> list[str]:
        values = entities.get(key) or []
        return [str(show(value)) for value in values] if isinstance(values, list) else []

    groups = [
        ("Order numbers", texts("order_numbers", lambda v: f"{v.get('kind', '')}: {v.get('value', '')}"
                                if isinstance(v, dict) else v)),
        ("Amounts", texts("amounts", lambda v: (v.get("text") or f"{v.get('value', '')} {v.get('currency', '')}")
                          if isinstance(v, dict) else v)),
        ("Seats", texts("seats", lambda v: v)),
        ("Products", texts("products", lambda v: v)),
        ("URLs", texts("urls", lambda v: v)),
        ("E-mails", texts("emails", lambda v: v)),
    ]
    return [(label, values) for label, values in groups if values]


def _citations(run: Run) -> list[dict]:
    """The knowledge-base passages the reply used, each with its article's id (for the admin link)."""
    citations = [c for c in (run.citations or []) if isinstance(c, dict)]
    ids = selectors.knowledge_article_ids(slugs=[str(c.get("slug", "")) for c in citations])
    return [{"slug": c.get("slug", ""), "title": c.get("title", ""), "passage": c.get("passage", ""),
             "article_id": ids.get(c.get("slug", ""))} for c in citations]


def _run_context(run: Run) -> dict:
    steps = list(run.steps.order_by("sequence"))
    longest = max((s.duration_ms for s in steps), default=0) or 1
    return {
        "run": run, "steps": steps, "longest_ms": longest, "language_name": language_name(run.language),
        "entity_groups": _entity_groups(run.entities if isinstance(run.entities, dict) else {}),
        "citations": _citations(run),
        "step_rows": [(s, max(round(s.duration_ms / longest * 100), 1)) for s in steps],
        "events": selectors.run_events(run_id=run.pk), "emails": list(run.emails.all()),
        "webhook_deliveries": list(selectors.run_webhook_deliveries(run_id=run.pk)),
        "draft_form": DraftForm(initial={"draft": run.draft_response}), "resolve_form": ResolveForm(),
    }


@console_required
def run_detail(request: HttpRequest, run_id) -> HttpResponse:
    """One run: its facts, timeline, reply, handoff summary, operator actions and event log."""
    run = _run_or_404(run_id)
    context = _run_context(run)
    partial = request.GET.get("partial")
    if request.htmx and partial in LIVE_PARTS:
        return render(request, f"dashboard/run.html#{partial}", context)
    return render(request, "dashboard/run.html", context)


@console_required
def run_json(request: HttpRequest, run_id) -> JsonResponse:
    """The run's public RunStatus as JSON, read from PostgreSQL."""
    _run_or_404(run_id)
    return JsonResponse(selectors.run_status_from_db(run_id=run_id), json_dumps_params={"indent": 2})


@console_required
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    """An operator submits an inquiry by hand (presets help); it goes through intake like a webhook."""
    _operator_only(request)  # auditors read; they are not shown a form they may not send
    if request.method == "POST":
        form = InquiryForm(request.POST)
        if form.is_valid():
            data = {k: v.strip() for k, v in form.cleaned_data.items()}
            caller = services.Caller(identity=f"user:{request.user.pk}", label=f"user:{request.user.get_username()}",
                                     ip=client_ip(request) or "")
            acceptance = services.inquiry_accept(data=data, raw_payload=data, caller=caller, idempotency_key=None,
                                                 fingerprint="", source=InquirySource.CONSOLE, actor=request.user)
            messages.success(request, "Inquiry submitted; the workflow is running.")
            return redirect("dashboard:run", run_id=acceptance.run_id)
    else:
        preset = next((p for p in PRESETS if p["key"] == request.GET.get("preset")), None)
        form = InquiryForm(initial={k: v for k, v in (preset or {}).items() if k not in ("key", "label")})
    return render(request, "dashboard/submit.html", {"form": form, "presets": PRESETS})


@console_required
def escalations(request: HttpRequest) -> HttpResponse:
    """The escalation queue: open, mine, unassigned or resolved."""
    queue = request.GET.get("scope", "open")  # the URL parameter bookmarks and links carry
    if queue not in ("open", "mine", "unassigned", "resolved"):
        queue = "open"
    runs = selectors.escalation_queue(user=request.user, queue=queue)
    page = Paginator(runs, 25).get_page(request.GET.get("page"))
    return render(request, "dashboard/escalations.html", {"page": page, "queue": queue})


def _act(request: HttpRequest, run_id, action, done: str) -> HttpResponse:
    _operator_only(request)
    _run_or_404(run_id)
    try:
        action()
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, done)
    return redirect("dashboard:run", run_id=run_id)


@console_required
@require_POST
def run_assign(request: HttpRequest, run_id) -> HttpResponse:
    """The operator takes the escalation."""
    return _act(request, run_id, lambda: services.run_assign(run_id=run_id, user=request.user),
                "You are now handling this escalation.")


@console_required
@require_POST
def run_draft(request: HttpRequest, run_id) -> HttpResponse:
    """Save the operator's edit of the escalated run's draft reply."""
    form = DraftForm(request.POST)
    if not form.is_valid():
        _operator_only(request)
        messages.error(request, "The reply cannot be empty or longer than 6,000 characters.")
        return redirect("dashboard:run", run_id=run_id)
    return _act(request, run_id, lambda: services.run_draft_update(run_id=run_id, user=request.user,
                                                                   draft=form.cleaned_data["draft"]), "Draft saved.")


@console_required
@require_POST
def run_approve(request: HttpRequest, run_id) -> HttpResponse:
    """Send the escalated run's draft to the sender, once."""
    return _act(request, run_id, lambda: _sent(services.run_reply_approve(run_id=run_id, user=request.user)),
                "Reply sent to the sender.")


def _sent(email) -> None:
    """An attempt that did not deliver is said so (its row shows the error and Send again)."""
    if email.status != "sent":
        raise services.ActionRefused(f"The reply was not sent ({email.get_status_display().lower()}): {email.error}")


@console_required
@require_POST
def run_send_again(request: HttpRequest, run_id) -> HttpResponse:
    """Send the run's failed reply again: the same e-mail, one more attempt."""
    return _act(request, run_id, lambda: _sent(services.email_send_again(run_id=run_id, user=request.user)),
                "Reply sent to the sender.")


@console_required
@require_POST
def run_resolve(request: HttpRequest, run_id) -> HttpResponse:
    """Close the escalation, with an optional note."""
    form = ResolveForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _act(request, run_id, lambda: services.run_resolve(run_id=run_id, user=request.user, note=note),
                "Escalation resolved.")


@console_required
@require_POST
def run_redeliver(request: HttpRequest, run_id, delivery_id: int) -> HttpResponse:
    """Deliver one of the run's webhook events again (same webhook-id: receivers dedupe by it)."""
    _operator_only(request)  # before the lookup: an auditor learns nothing of which deliveries exist
    if not selectors.run_webhook_deliveries(run_id=run_id).filter(pk=delivery_id).exists():
        raise Http404("No such delivery.")
    return _act(request, run_id, lambda: services.webhook_redeliver(delivery_id=delivery_id),
                "The webhook will be delivered again within seconds.")


@console_required
@require_POST
def run_replay(request: HttpRequest, run_id) -> HttpResponse:
    """Run the run's inquiry again on the current workflow, as a new linked run."""
    _operator_only(request)
    _run_or_404(run_id)
    acceptance = services.run_replay(run_id=run_id, user=request.user)
    messages.success(request, "Replay started on the current workflow version.")
    return redirect("dashboard:run", run_id=acceptance.run_id)


@console_required
@require_http_methods(["GET", "POST"])
def run_delete(request: HttpRequest, run_id) -> HttpResponse:
    """Confirm, then delete the run (delete permission only)."""
    if not request.user.has_perm("inquiries.delete_run"):
        raise PermissionDenied("You may not delete runs.")
    run = _run_or_404(run_id)
    if request.method == "POST":
        services.run_delete(run_id=run_id, actor=request.user, ip=client_ip(request) or "")
        messages.success(request, f"Run {run_id} deleted.")
        return redirect("dashboard:history")
    return render(request, "dashboard/run_delete.html", {"run": run})
