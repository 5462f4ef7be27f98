"""Each new worker process gets ready before its first run: the runs that a dead worker of this
machine held are queued again, the built-in classifier is trained (the cluster usually did it
before forking), the language detector is built (orchestration/analysis/language.py) and, when
the run would go to Ollama, the model is loaded (an empty chat). It runs in a thread of its own,
so that the worker takes tasks at once (a run needing any of them waits)."""

import logging

logger = logging.getLogger(__name__)


def warm() -> None:
    from django.db import connections

    from .analysis.language import warm_up as warm_up_language
    from .engines.classifier import get_classifier
    from .engines.ollama import OllamaClient
    from .engines.probe import active_backend
    from .tasks import reap_dead_local_workers

    try:
        reap_dead_local_workers()
    except Exception:  # the reaper's schedule catches these runs a minute later
        logger.exception("queueing the runs of dead workers failed")
    finally:
        connections.close_all()  # this thread's connections only
    try:
        get_classifier()
        warm_up_language()
        if active_backend() == "ollama":
            OllamaClient().warm_up()
    except Exception:  # a failed warm-up costs the first run a little time, nothing else
        logger.exception("worker warm-up failed")
