"""Is Ollama there, with our model? Decides `LLM_BACKEND=auto` and feeds `/health`.

The answer is cached for a few seconds so that health probes and run starts do not each pay a
network round trip; a dead Ollama costs at most one short connect timeout per interval.
"""

import logging
import threading
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
_lock = threading.Lock()
# One probe at a time: when the cached answer expires, the runs in flight of a worker would
# otherwise all probe at once, each with a new HTTP client.
_probing = threading.Lock()
_cache: dict[tuple[str, str], tuple[float, "OllamaProbe"]] = {}


@dataclass(frozen=True)
class OllamaProbe:
    reachable: bool
    model_available: bool
    version: str = ""
    model_digest: str = ""
    error: str = ""


def _model_matches(wanted: str, name: str) -> bool:
    # "llama3" is served as "llama3:latest"; an explicit tag must match exactly.
    return name == wanted or (":" not in wanted and name == f"{wanted}:latest")


def probe_ollama(*, use_cache: bool = True) -> OllamaProbe:
    key = (settings.OLLAMA_BASE_URL, settings.LLM_MODEL)

    def fresh() -> OllamaProbe | None:
        with _lock:
            cached = _cache.get(key)
        return cached[1] if use_cache and cached and time.monotonic() - cached[0] < CACHE_SECONDS else None

    if (found := fresh()) is not None:
        return found
    with _probing:
        if (found := fresh()) is not None:  # another thread probed while we waited
            return found
        result = _probe(*key, settings.OLLAMA_PROBE_TIMEOUT)
        with _lock:
            _cache[key] = (time.monotonic(), result)
    return result


def _probe(base_url: str, model: str, timeout: float) -> OllamaProbe:
    try:
        with httpx.Client(base_url=base_url, timeout=timeout) as client:
            version = client.get("/api/version").raise_for_status().json().get("version", "")
            models = client.get("/api/tags").raise_for_status().json().get("models", [])
    except (httpx.HTTPError, ValueError) as exc:
        return OllamaProbe(reachable=False, model_available=False, error=type(exc).__name__)
    for entry in models:
        if _model_matches(model, entry.get("name", "")) or _model_matches(model, entry.get("model", "")):
            return OllamaProbe(True, True, version=version, model_digest=entry.get("digest", ""))
    return OllamaProbe(True, False, version=version, error=f"model {model!r} is not pulled")


def active_backend() -> str:
    """`ollama` or `builtin`, as LLM_BACKEND asks: `auto` picks Ollama when it is there with the model."""
    choice = settings.LLM_BACKEND
    if choice in ("ollama", "builtin"):
        return choice
    probe = probe_ollama()
    return "ollama" if probe.reachable and probe.model_available else "builtin"
