from django.apps import AppConfig


class AutoflowConfig(AppConfig):
    name = "autoflow"
    verbose_name = "AutoFlow"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from core.request_id import clear_request_id

        from . import checks  # noqa: F401  (registers the system checks)

        # After Django's own response logging (django.request), which must still carry the id.
        request_finished.connect(clear_request_id, dispatch_uid="autoflow.clear_request_id")
