from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.errors import error_response
from orchestration.health import check_database, health_report

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



def _wants_html(request: HttpRequest) -> bool:
    if request.path.startswith(("/api/", "/health")):
        return False
    return request.get_preferred_type(["application/json", "text/html"]) == "text/html"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler: the JSON envelope for API clients, the HTML page for browsers."""
    if _wants_html(request):
        return defaults.page_not_found(request, exception)
    return error_response(404, "not_found", f"Nothing at {request.path}.")


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: the JSON envelope for API clients, the HTML page for browsers."""
    if _wants_html(request):
        return defaults.server_error(request)
    return error_response(500, "internal_error", "Internal server error. Quote the request id when reporting it.")
