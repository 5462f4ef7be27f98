from django.conf import settings
from django.core.management.base import BaseCommand

from orchestration.engines.probe import active_backend, probe_ollama


class Command(BaseCommand):
    help = "Say which model backend runs will use (LLM_BACKEND, Ollama reachability, model pulled)."

    def handle(self, *args, **options) -> None:
        probe = probe_ollama(use_cache=False)
        backend = active_backend()
        where = f"{settings.OLLAMA_BASE_URL} (model {settings.LLM_MODEL})"
        if backend == "ollama":
            self.stdout.write(self.style.SUCCESS(f"LLM backend: ollama at {where}, server {probe.version or '?'}"))
            return
        reason = (
            "LLM_BACKEND=builtin" if settings.LLM_BACKEND == "builtin"
            else f"Ollama not usable at {where}: {probe.error or 'unreachable'}"
        )
        self.stdout.write(self.style.WARNING(
            "*** LLM backend: BUILT-IN ENGINE (deterministic, no network) ***\n"
            f"    because {reason}.\n"
            f"    To use a local model: install Ollama, `ollama pull {settings.LLM_MODEL}`, "
            "and set OLLAMA_BASE_URL if it is not on 127.0.0.1:11434."
        ))
