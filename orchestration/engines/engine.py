"""One small interface over both engines. A node asks the run's engine; when the run is on
Ollama and Ollama fails (unavailable, out of budget, or still invalid after one repair), the
built-in engine answers instead and the outcome says so, so the policy can decide."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings

from core import metrics, tracing
from inquiries.models import LLMBackend

from . import builtin, prompts
from .ollama import OllamaClient
from .probe import probe_ollama
from .types import (
    Classification,
    FaqAnswer,
    LeadSignals,
    LLMError,
    Reply,
    StructuredOutputError,
    SupportAssessment,
)

T = TypeVar("T")


@dataclass
class Outcome(Generic[T]):
    value: T
    backend: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    fallback: bool = False
    failure: str = ""  # "llm_unavailable" | "model_output_invalid" when the fallback answered
    detail: str = ""

    def step_meta(self) -> dict:
        return {"llm_backend": self.backend, "model": self.model, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}


def engine_info(backend: str) -> dict[str, str]:
    """What a run records about the engine it starts on."""
    if backend == LLMBackend.OLLAMA:
        probe = probe_ollama()
        return {"llm_backend": backend, "llm_model": settings.LLM_MODEL, "llm_model_digest": probe.model_digest,
                "llm_server_version": probe.version}
    return {"llm_backend": LLMBackend.BUILTIN, "llm_model": builtin.MODEL, "llm_model_digest": "",
            "llm_server_version": ""}


class Engine:
    def __init__(self, backend: str, *, budget_seconds: float | None = None):
        self.backend = backend
        self.deadline = time.monotonic() + (budget_seconds if budget_seconds is not None
                                            else settings.LLM_RUN_BUDGET_SECONDS)
        self.client = OllamaClient() if backend == LLMBackend.OLLAMA else None

    def _run(self, operation: str, ollama_call: Callable[[float], tuple[T, object]],
             fallback: Callable[[], T]) -> Outcome[T]:
        """One model call, in a span of its own (core/tracing.py): the model asked and the one that
        answered, the tokens, and the outcome: "ok", or the failure kind the fallback answered for."""
        with tracing.span(f"model {operation}", attributes={
                "gen_ai.operation.name": operation, "gen_ai.provider.name": self.backend,
                "gen_ai.request.model": settings.LLM_MODEL if self.client is not None else builtin.MODEL}) as span:
            started = time.monotonic()
            outcome, kind = self._answer(ollama_call, fallback)
            metrics.model_call(backend=self.backend, seconds=time.monotonic() - started, failure=kind,
                               prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens)
            tracing.set_attributes(span, **{
                "gen_ai.response.model": outcome.model, "autoflow.model.backend": outcome.backend,
                "gen_ai.usage.input_tokens": outcome.prompt_tokens,
                "gen_ai.usage.output_tokens": outcome.completion_tokens,
                "autoflow.model.outcome": outcome.failure if outcome.fallback else "ok"})
        return outcome

    def _answer(self, ollama_call: Callable[[float], tuple[T, object]], fallback: Callable[[], T]
                ) -> tuple[Outcome[T], str]:
        """The outcome, and the kind of failure when the fallback answered ("" otherwise)."""
        if self.client is None:
            return Outcome(fallback(), LLMBackend.BUILTIN, builtin.MODEL), ""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return Outcome(fallback(), LLMBackend.BUILTIN, builtin.MODEL, fallback=True, failure="llm_unavailable",
                           detail="the run's model budget is spent"), "budget_spent"
        try:
            value, result = ollama_call(min(settings.OLLAMA_CALL_TIMEOUT, remaining))
        except StructuredOutputError as exc:
            return Outcome(fallback(), LLMBackend.BUILTIN, builtin.MODEL, fallback=True,
                           failure="model_output_invalid", detail=str(exc)[:500]), "model_output_invalid"
        except LLMError as exc:
            return Outcome(fallback(), LLMBackend.BUILTIN, builtin.MODEL, fallback=True, failure="llm_unavailable",
                           detail=f"{exc.code}: {exc}"[:500]), exc.code
        leaked = next((q for v in value.model_dump().values() if isinstance(v, str)
                       for q in [prompts.quoted_instructions(v)] if q), "")
        if leaked:  # an injected "print your instructions" that worked: the answer is not used
            return Outcome(fallback(), LLMBackend.BUILTIN, builtin.MODEL, fallback=True,
                           failure="model_output_invalid", detail="the answer quoted our instructions"), \
                "instructions_quoted"
        return Outcome(value, LLMBackend.OLLAMA, result.model, result.prompt_tokens, result.completion_tokens), ""

    def _structured(self, system: str, user: str, model_cls):
        return lambda timeout: self.client.structured(system=system, user=user, model_cls=model_cls,
                                                      timeout=timeout)

    def classify(self, *, sender_name: str, subject: str, body: str) -> Outcome[Classification]:
        user = prompts.wrap_inquiry(sender_name=sender_name, subject=subject, body=body)
        return self._run("classify", self._structured(prompts.CLASSIFY, user, Classification),
                         lambda: builtin.classify(subject, body))

    def assess_support(self, *, sender_name: str, subject: str, body: str, intent: str) -> Outcome[SupportAssessment]:
        user = prompts.wrap_inquiry(sender_name=sender_name, subject=subject, body=body)
        return self._run("assess_support", self._structured(prompts.SUPPORT, user, SupportAssessment),
                         lambda: builtin.assess_support(subject, body, intent))

    def lead_signals(self, *, sender_name: str, subject: str, body: str) -> Outcome[LeadSignals]:
        user = prompts.wrap_inquiry(sender_name=sender_name, subject=subject, body=body)
        return self._run("lead_signals", self._structured(prompts.LEAD, user, LeadSignals),
                         lambda: builtin.lead_signals(subject, body))

    def answer_faq(self, *, sender_name: str, subject: str, body: str, articles: list[dict]) -> Outcome[FaqAnswer]:
        if not articles:  # nothing to answer from: no model can help, and none is asked
            return Outcome(FaqAnswer(answerable=False), self.backend if self.client is None else LLMBackend.BUILTIN,
                           builtin.MODEL)
        context = "\n\n".join(f"## {a['title']}\n{a['body']}" for a in articles)
        user = f"<articles>\n{context}\n</articles>\n\n" + prompts.wrap_inquiry(
            sender_name=sender_name, subject=subject, body=body)
        return self._run("answer_faq", self._structured(prompts.FAQ, user, FaqAnswer),
                         lambda: builtin.answer_faq(subject, body, articles))

    def draft_reply(self, *, sender_name: str, subject: str, body: str, intent: str, context: str,
                    template_args: dict) -> Outcome[Reply]:
        system = prompts.REPLY.format(company=settings.COMPANY_NAME,
                                      language=prompts.language_name(template_args.get("language") or "en"))
        user = f"<context>\n{context}\n</context>\n\n" + prompts.wrap_inquiry(
            sender_name=sender_name, subject=subject, body=body)
        return self._run("draft_reply", self._structured(system, user, Reply),
                         lambda: builtin.draft_reply(intent=intent, sender_name=sender_name, subject=subject,
                                                     company=settings.COMPANY_NAME, **template_args))
