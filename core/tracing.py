"""OpenTelemetry tracing: off unless an OTLP endpoint is configured, then one trace per request.

`setup(service)` is called once per process by the entry points: the web tier (autoflow/wsgi.py,
autoflow/asgi.py) and each worker process after its fork (orchestration/runner/cluster.py). It
does nothing, creates no exporter and imports no SDK, unless OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and OTEL_SDK_DISABLED is not true). Then it installs
the SDK's TracerProvider with a BatchSpanProcessor and the OTLP/HTTP exporter, every knob read by
the SDK itself from the standard variables (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
OTEL_TRACES_SAMPLER, OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS …), and the official instrumentations
of Django (web only: it honours an incoming `traceparent`), psycopg, httpx and Redis.

The rest of the code uses the small API below, which costs nothing while tracing is off:
`span(name, **attributes)`, `current_context()` (the W3C `traceparent`/`tracestate` of the span
in progress, stored with a run at intake) and `span_from(carrier, name, …)` (the run's span in
the worker, a child of the webhook request that queued it). `untraced_http()` keeps our trace
context out of requests to others' servers. `shutdown()` flushes what is queued.
"""

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Our spans' names start with this; a root span that is neither ours nor an incoming request (a
# worker's queue poll, a WebSocket consumer's Redis read) is not sampled: it is no one's trace.
PREFIX = "autoflow."

_provider = None
_tracer = None


def configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the standard variables ask for traces: an OTLP endpoint, and the SDK not disabled."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def enabled() -> bool:
    return _tracer is not None


def setup(service_name: str, *, django: bool = False) -> bool:
    """Install tracing for this process when configured (see the module); `service_name` is the
    default of `service.name` (OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES win). `django`:
    instrument Django's request handling too (call it before the WSGI/ASGI handler is built).
    Returns whether tracing is on. Safe to call twice."""
    global _provider, _tracer
    if _tracer is not None:
        return True
    if not configured():
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER (default: parent-based, all)
    provider.sampler = _own_roots_sampler()(provider.sampler)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _instrument(provider, django=django)
    _provider = provider
    _tracer = trace.get_tracer("autoflow")
    logger.info("tracing on: service %s", resource.attributes.get(SERVICE_NAME))
    return True


def _instrument(provider, *, django: bool) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    if django:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument(tracer_provider=provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    RedisInstrumentor().instrument(tracer_provider=provider)


def _own_roots_sampler():
    """The sampler class, built on first use: the SDK is imported only when tracing is on."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind, get_current_span

    class OwnRoots(Sampler):
        """Delegates to the configured sampler, except that a span without a parent is dropped
        unless it is a server span (an incoming request) or one of ours."""

        def __init__(self, delegate: Sampler) -> None:
            self.delegate = delegate

        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None):
            parent = get_current_span(parent_context).get_span_context()
            if not parent.is_valid and kind != SpanKind.SERVER and not name.startswith(PREFIX):
                return SamplingResult(Decision.DROP)
            return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                               trace_state)

        def get_description(self) -> str:
            return f"OwnRoots{{{self.delegate.get_description()}}}"

    return OwnRoots


def shutdown() -> None:
    """Export what is queued and stop (a worker process ends with os._exit: no atexit runs)."""
    global _provider, _tracer
    if _provider is None:
        return
    try:
        _provider.shutdown()
    except Exception:  # never let telemetry stop a process from ending
        logger.exception("flushing the traces failed")
    _provider = _tracer = None


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value is not None and value != ""}


@contextlib.contextmanager
def span(name: str, *, attributes: Mapping[str, Any] | None = None, context=None) -> Iterator[Any]:
    """A span named PREFIX + `name` around the block (a child of the current one, or of `context`);
    yields it (None while tracing is off). An exception leaving the block marks it failed."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(PREFIX + name, context=context,
                                       attributes=_clean(attributes or {})) as current:
        yield current


def set_attributes(current, **attributes: Any) -> None:
    """Set attributes on a span from `span` (nothing while tracing is off); None and "" are left out."""
    if current is not None:
        current.set_attributes(_clean(attributes))


@contextlib.contextmanager
def untraced_http() -> Iterator[None]:
    """HTTP requests made in the block carry no trace context and make no span: a third party's
    server (a webhook receiver) learns nothing of our traces."""
    if _tracer is None:
        yield
        return
    from opentelemetry.instrumentation.utils import suppress_http_instrumentation

    with suppress_http_instrumentation():
        yield


def current_context() -> dict[str, str]:
    """The current trace context as W3C headers (`traceparent`, `tracestate`); {} when off or outside a span."""
    if _tracer is None:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return {key: value for key, value in carrier.items() if key in ("traceparent", "tracestate")}


@contextlib.contextmanager
def span_from(carrier: Mapping[str, str] | None, name: str, *,
              attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """`span`, as a child of the trace context in `carrier` (from `current_context`, stored with a
    run); a root span when the carrier is empty or invalid."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(dict(carrier or {}))
    with span(name, attributes=attributes, context=parent) as current:
        yield current
