"""AutoFlow API v1 (django-ninja): one NinjaAPI per major version, mounted at /api/v1/."""

from ninja import NinjaAPI

from .errors import register_error_handlers
from .routers import runs, stats, webhook

api = NinjaAPI(
    title="AutoFlow API",
    version="1.0.0",
    urls_namespace="api-v1",
    description=(
        "Inquiry intake webhook, run status and history. Errors always have the shape "
        '`{"error", "message", "details", "request_id"}`; every response carries `X-Request-ID`. '
        "Live updates: WebSocket `/api/v1/ws/{run_id}?token=<key>`."
    ),
)
register_error_handlers(api)
api.add_router("", webhook.router)
api.add_router("", runs.router)
api.add_router("", stats.router)
