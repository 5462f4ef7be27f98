"""AutoFlow API v1 (django-ninja): one NinjaAPI per major version, mounted at /api/v1/."""

from ninja import NinjaAPI

api = NinjaAPI(
    title="AutoFlow API",
    version="1.0.0",
    urls_namespace="api-v1",
    description="Inquiry intake webhook, run status and history. See DESIGN.md §3.",
)
