from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Operator console"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from . import oidc
        from .signin import record_lock_out

        user_locked_out.connect(record_lock_out, dispatch_uid="dashboard.record_lock_out")
        oidc.connect()
