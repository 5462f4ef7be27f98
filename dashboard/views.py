from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from autoflow.health import health_report
from inquiries.selectors import run_recent, run_status_counts

from .permissions import console_required


@console_required
def overview(request: HttpRequest) -> HttpResponse:
    context = {
        "health": health_report(),
        "counts": run_status_counts(),
        "runs": run_recent(limit=20),
    }
    return render(request, "dashboard/overview.html", context)
