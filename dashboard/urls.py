from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("runs/", views.history, name="history"),
    path("runs/export.csv", views.history_export, name="history-export"),
    path("reports/", views.reports_page, name="reports"),
    path("runs/<uuid:run_id>/", views.run_detail, name="run"),
    path("runs/<uuid:run_id>.json", views.run_json, name="run-json"),
    path("runs/<uuid:run_id>/assign", views.run_assign, name="run-assign"),
    path("runs/<uuid:run_id>/draft", views.run_draft, name="run-draft"),
    path("runs/<uuid:run_id>/approve", views.run_approve, name="run-approve"),
    path("runs/<uuid:run_id>/send-again", views.run_send_again, name="run-send-again"),
    path("runs/<uuid:run_id>/resolve", views.run_resolve, name="run-resolve"),
    path("runs/<uuid:run_id>/webhooks/<int:delivery_id>/redeliver", views.run_redeliver, name="run-redeliver"),
    path("runs/<uuid:run_id>/replay", views.run_replay, name="run-replay"),
    path("runs/<uuid:run_id>/delete", views.run_delete, name="run-delete"),
    path("submit/", views.submit, name="submit"),
    path("escalations/", views.escalations, name="escalations"),
]
