from django.contrib import admin
from django.urls import include, path

from dashboard import oidc
from inquiries.api.v1 import api as api_v1

from . import metrics, views

urlpatterns = [
    path("", views.root, name="root"),
    path("health", views.health, name="health"),
    path("health/live", views.health_live, name="health-live"),
    path("health/ready", views.health_ready, name="health-ready"),
    path("docs", views.docs_redirect, name="docs"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/v1/", api_v1.urls),
    path("admin/", admin.site.urls),
    path("console/", include("dashboard.urls")),
    # Single sign-on (404 unless configured): the start, and the redirect URI to register at the provider.
    path("oidc/authenticate/", oidc.AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", oidc.CallbackView.as_view(), name="oidc_authentication_callback"),
]

handler404 = "autoflow.views.not_found"
handler500 = "autoflow.views.server_error"
