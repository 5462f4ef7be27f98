from django.apps import AppConfig


class AutoflowConfig(AppConfig):
    name = "autoflow"
    verbose_name = "AutoFlow"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
