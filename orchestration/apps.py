from django.apps import AppConfig


class OrchestrationConfig(AppConfig):
    name = "orchestration"
    verbose_name = "Orchestration"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from .warmup import warm_worker

        post_spawn.connect(warm_worker, dispatch_uid="autoflow-warm-worker")
