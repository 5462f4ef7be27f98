from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .health import check_database, health_report

DISCOVERY = {"message": "AutoFlow API", "docs": "/api/v1/docs", "health": "/health"}


@require_safe
def root(request: HttpRequest) -> HttpResponse:
    # A browser asking for a page goes to the console; API clients (Accept: */* or JSON) get JSON.
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        return redirect("dashboard:overview")
    return JsonResponse(DISCOVERY)


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse(health_report())


@never_cache
@require_safe
def health_live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"})


@never_cache
@require_safe
def health_ready(request: HttpRequest) -> JsonResponse:
    database = check_database()
    body = {"status": "ready" if database.ok else "unavailable", "database": database.ok}
    response = JsonResponse(body, status=200 if database.ok else 503)
    if not database.ok:
        response["Retry-After"] = "5"
    return response


def docs_redirect(request: HttpRequest) -> HttpResponse:
    return redirect("/api/v1/docs", permanent=False)

