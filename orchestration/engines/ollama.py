"""Ollama over httpx (docs/workflow.md, "The two engines"):

- `/api/chat`, streamed internally (liveness, and the deadline can act between chunks), with a
  JSON-schema `format`, `think: false`, temperature 0, a fixed seed and one constant `num_ctx`;
- a response counts only when a `done: true` chunk arrived (not `length`), with no error line;
- a long first-byte timeout (cold loads send no headers until the model is in memory) inside an
  overall deadline per call;
- retries with exponential backoff and jitter on connection errors, timeouts, 5xx/503 and
  incomplete answers only, never on 4xx;
- a circuit breaker per process: after a few failures in a row calls fail at once for a while, so
  a dead Ollama costs microseconds per run, and the workflow falls back to the built-in engine;
- output parsed (a ```json fence stripped) and validated with pydantic; one repair turn; then a
  typed `StructuredOutputError`.
"""

import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import httpx
import pybreaker
from django.conf import settings
from pydantic import BaseModel, ValidationError
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from core import metrics

from .types import LLMError, LLMUnavailable, StructuredOutputError

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


class OllamaError(LLMError):
    code = "ollama_error"


class OllamaBadRequest(OllamaError):
    code = "ollama_bad_request"


class OllamaModelNotFound(OllamaError):
    code = "ollama_model_not_found"


class OllamaTransient(LLMUnavailable):
    """Worth another try: connection refused or reset, timeout, 5xx, 503 busy, an answer cut short."""

    retryable = True


class OllamaBusy(OllamaTransient):
    code = "ollama_busy"


class OllamaServerError(OllamaTransient):
    code = "ollama_server_error"


class OllamaIncomplete(OllamaTransient):
    code = "ollama_incomplete"


class OllamaTimeout(OllamaTransient):
    code = "ollama_timeout"


class OllamaCircuitOpen(LLMUnavailable):
    code = "ollama_circuit_open"


@dataclass
class ChatResult:
    content: str
    model: str
    done_reason: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 1


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return str(body.get("error", body))[:500] if isinstance(body, dict) else str(body)[:500]


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code == 200:
        return
    response.read()
    text = _error_text(response)
    status = response.status_code
    if status == 404:
        raise OllamaModelNotFound(f"404: {text}")
    if status == 503:
        raise OllamaBusy(f"503: {text}")
    if status >= 500:
        raise OllamaServerError(f"{status}: {text}")
    raise OllamaBadRequest(f"{status}: {text}")


class _Breaker(pybreaker.CircuitBreaker):
    """pybreaker's breaker holds its lock for the whole guarded call, so each model call of a
    process waited for the one before it, and a worker's runs in flight queued behind each other.
    This one takes the lock only to read and change the state; the call itself runs unlocked (in
    the half-open state, the calls of that moment are all trials)."""

    def call(self, func, *args, **kwargs):
        with self._lock:
            if self.current_state == pybreaker.STATE_OPEN:
                opened = self._state_storage.opened_at
                if opened and datetime.now(UTC) < opened + timedelta(seconds=self.reset_timeout):
                    raise pybreaker.CircuitBreakerError("Timeout not elapsed yet, circuit breaker still open")
                self.half_open()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            with self._lock:
                self.state._handle_error(exc)  # raises: exc, or CircuitBreakerError when it trips
            raise
        with self._lock:
            self.state._handle_success()
        return result


@lru_cache(maxsize=8)
def _breaker(base_url: str) -> pybreaker.CircuitBreaker:
    # Only failures that say "Ollama is not answering" count; a 400 or a bad answer does not.
    return _Breaker(
        fail_max=settings.OLLAMA_BREAKER_FAILURES, reset_timeout=settings.OLLAMA_BREAKER_RESET_SECONDS,
        exclude=[lambda exc: not isinstance(exc, OllamaTransient)], name=f"ollama {base_url}",
    )


def reset_breakers() -> None:
    """Forget every breaker's state (tests, or after OLLAMA_BASE_URL changed)."""
    _breaker.cache_clear()


@lru_cache(maxsize=8)
def _http(base_url: str, pid: int) -> httpx.Client:
    # One connection pool per process and server: building an httpx.Client (its SSL context
    # included) costs more than a whole call to a warm local model.
    # Every run in flight may be in a call at once.
    size = max(8, settings.RUN_CONCURRENCY)
    return httpx.Client(base_url=base_url, limits=httpx.Limits(max_connections=size, max_keepalive_connections=size))


class OllamaClient:
    def __init__(self, *, base_url: str | None = None, model: str | None = None):
        self.base_url = (base_url or settings.OLLAMA_BASE_URL).rstrip("/")
        self.model = model or settings.LLM_MODEL
        self.breaker = _breaker(self.base_url)
        self.http = _http(self.base_url, os.getpid())

    def _timeout(self, remaining: float) -> httpx.Timeout:
        # `read` is the longest wait for the next bytes: the first ones come after a cold load.
        read = max(0.05, min(settings.OLLAMA_FIRST_BYTE_TIMEOUT, remaining))
        return httpx.Timeout(connect=min(settings.OLLAMA_CONNECT_TIMEOUT, read), read=read, write=10.0, pool=5.0)

    def _options(self) -> dict[str, Any]:
        return {"temperature": 0, "seed": 42, "num_ctx": settings.OLLAMA_NUM_CTX,
                "num_predict": settings.OLLAMA_NUM_PREDICT}

    def _chat_once(self, messages: list[dict[str, str]], schema: dict | None, deadline: float) -> ChatResult:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OllamaTimeout("no time left in the call's deadline")
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True, "think": False,
                                "options": self._options(), "keep_alive": settings.OLLAMA_KEEP_ALIVE}
        if schema is not None:
            body["format"] = schema
        content: list[str] = []
        try:
            with self.http.stream("POST", "/api/chat", json=body, timeout=self._timeout(remaining)) as response:
                _raise_for_status(response)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    if time.monotonic() > deadline:
                        raise OllamaTimeout("the call's deadline passed while the answer streamed")
                    try:
                        chunk = json.loads(line)
                    except ValueError as exc:
                        raise OllamaIncomplete(f"unparseable stream line: {line[:100]!r}") from exc
                    if not isinstance(chunk, dict):
                        raise OllamaIncomplete("stream line is not an object")
                    if "error" in chunk:
                        raise OllamaIncomplete(f"error in stream: {str(chunk['error'])[:300]}")
                    message = chunk.get("message") or {}
                    content.append(message.get("content") or "")
                    if chunk.get("done") is True:
                        reason = chunk.get("done_reason") or "stop"
                        if reason == "length":
                            raise OllamaIncomplete("the answer was cut at num_predict (done_reason=length)")
                        return ChatResult(content="".join(content), model=str(chunk.get("model") or self.model),
                                          done_reason=reason, prompt_tokens=chunk.get("prompt_eval_count"),
                                          completion_tokens=chunk.get("eval_count"))
        except httpx.TimeoutException as exc:
            raise OllamaTimeout(f"{type(exc).__name__} after {remaining:.1f}s budget") from exc
        except httpx.HTTPError as exc:  # refused, reset, protocol errors
            raise OllamaTransient(f"{type(exc).__name__}: {exc}"[:300]) from exc
        raise OllamaIncomplete("the stream ended without done: true")

    def chat(self, messages: list[dict[str, str]], *, schema: dict | None = None,
             timeout: float | None = None) -> ChatResult:
        """One answer, with retries on transient failures inside an overall deadline."""
        budget = timeout if timeout is not None else settings.OLLAMA_CALL_TIMEOUT
        deadline = time.monotonic() + budget
        attempts = 0

        def attempt() -> ChatResult:
            nonlocal attempts
            attempts += 1
            try:
                return self.breaker.call(self._chat_once, messages, schema, deadline)
            except pybreaker.CircuitBreakerError as exc:
                metrics.ollama_request_failed(OllamaCircuitOpen.code)
                raise OllamaCircuitOpen("Ollama circuit breaker is open after repeated failures") from exc
            except LLMError as exc:
                metrics.ollama_request_failed(exc.code)
                raise

        retrying = Retrying(
            retry=retry_if_exception(lambda exc: getattr(exc, "retryable", False)),
            stop=stop_after_attempt(settings.OLLAMA_MAX_RETRIES + 1) | stop_before_delay(budget),
            wait=wait_exponential_jitter(multiplier=settings.OLLAMA_RETRY_INITIAL_SECONDS, max=8, jitter=0.5),
            reraise=True,
        )
        result = retrying(attempt)  # reraise=True: the last attempt's own error
        result.attempts = attempts
        return result

    def structured(self, *, system: str, user: str, model_cls: type[M], timeout: float | None = None
                   ) -> tuple[M, ChatResult]:
        """A validated answer of `model_cls`; one repair turn when the first is invalid."""
        schema = json_schema(model_cls)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        result = self.chat(messages, schema=schema, timeout=timeout)
        try:
            return parse_output(result.content, model_cls), result
        except (ValueError, ValidationError) as exc:
            first_error = _short(exc)
        messages += [
            {"role": "assistant", "content": result.content[:4000]},
            {"role": "user", "content": f"Your previous output was invalid: {first_error}. "
                                        "Return only JSON that matches the schema."},
        ]
        repaired = self.chat(messages, schema=schema, timeout=timeout)
        repaired.prompt_tokens = (repaired.prompt_tokens or 0) + (result.prompt_tokens or 0)
        repaired.completion_tokens = (repaired.completion_tokens or 0) + (result.completion_tokens or 0)
        try:
            return parse_output(repaired.content, model_cls), repaired
        except (ValueError, ValidationError) as exc:
            raise StructuredOutputError(f"invalid after one repair: {_short(exc)}", raw=repaired.content) from exc

    def warm_up(self) -> bool:
        """Load the model (an empty chat) so the first real call does not pay the cold start."""
        try:
            response = self.http.post("/api/chat", timeout=self._timeout(settings.OLLAMA_FIRST_BYTE_TIMEOUT),
                                      json={"model": self.model, "messages": [], "keep_alive": settings.OLLAMA_KEEP_ALIVE,
                                            "options": {"num_ctx": settings.OLLAMA_NUM_CTX}})
            return response.status_code == 200
        except httpx.HTTPError as exc:
            logger.warning("Ollama warm-up failed: %s", type(exc).__name__)
            return False


def _short(exc: Exception) -> str:
    return re.sub(r"\s+", " ", str(exc))[:300]


# Greedy and unambiguous (linear time): the fence's inside is stripped afterwards, not by the pattern.
_FENCE = re.compile(r"```(?:json)?(.*)```", re.S)


def parse_output(content: str, model_cls: type[M]) -> M:
    text = content.strip()
    if not text:
        raise ValueError("empty answer")
    fenced = _FENCE.fullmatch(text)
    if fenced:
        text = fenced.group(1).strip()
    return model_cls.model_validate_json(text)


def json_schema(model_cls: type[BaseModel]) -> dict[str, Any]:
    """The subset of JSON Schema Ollama's grammar handles everywhere: an object of primitives and
    enums, every property required, no $ref, anyOf, const or pattern."""
    schema = model_cls.model_json_schema()
    properties = {}
    for name, prop in schema["properties"].items():
        clean = {key: value for key, value in prop.items() if key in ("type", "enum", "minimum", "maximum")}
        if "enum" in prop and "type" not in clean:
            clean["type"] = "string"
        properties[name] = clean
    return {"type": "object", "properties": properties, "required": list(properties)}
