"""AutoFlow's own Prometheus metrics, recorded where things happen (the exposition is
autoflow/metrics.py, `GET /metrics`; the figures read from the database at scrape time are in
inquiries/metrics.py).

Multiprocess: when PROMETHEUS_MULTIPROC_DIR names a folder (the start scripts create and clear
one per stack: scripts/stack.py), every process (each gunicorn worker, each worker process of
the cluster) writes its samples to files there, and one scrape of the web tier reads them all.
Without it, each process keeps its own and only the web process that answers is seen.

Labels carry only bounded values (statuses, intents, node names, backends, failure kinds),
never run ids or addresses: every label combination is a time series.

    autoflow_runs_finished_total{status,intent,family,band,backend}   runs at their terminal state
    autoflow_run_duration_seconds{status}              received to terminal state
    autoflow_node_duration_seconds{node}               one workflow node, as its step records it
    autoflow_model_call_duration_seconds{backend,outcome}  one engine call (Ollama or built-in)
    autoflow_model_tokens_total{backend,kind}          prompt and completion tokens
    autoflow_model_call_failures_total{kind}           model calls that failed, by kind
    autoflow_ollama_request_failures_total{kind}       Ollama HTTP attempts that failed (retries included)
    autoflow_model_fallbacks_total{node,failure}       the built-in engine answered for Ollama
"""

from prometheus_client import Counter, Histogram

# Workflow nodes take milliseconds (built-in engine) to tens of seconds (a local model).
NODE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, float("inf"))
# A run waits in the queue too: up to minutes under load.
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, float("inf"))

RUNS_FINISHED = Counter("autoflow_runs_finished", "Runs that reached a terminal state.",
                        ["status", "intent", "family", "band", "backend"])
RUN_DURATION = Histogram("autoflow_run_duration_seconds", "Time from intake to the run's terminal state.",
                         ["status"], buckets=RUN_BUCKETS)
NODE_DURATION = Histogram("autoflow_node_duration_seconds", "Time one workflow node took, as its step records it.",
                          ["node"], buckets=NODE_BUCKETS)
MODEL_CALL_DURATION = Histogram("autoflow_model_call_duration_seconds",
                                "Time of one engine call (Ollama, or the built-in engine), fallback included.",
                                ["backend", "outcome"], buckets=NODE_BUCKETS)
MODEL_TOKENS = Counter("autoflow_model_tokens", "Tokens the model read (prompt) and wrote (completion).",
                       ["backend", "kind"])
MODEL_FAILURES = Counter("autoflow_model_call_failures", "Model calls that failed, by kind.", ["kind"])
OLLAMA_REQUEST_FAILURES = Counter("autoflow_ollama_request_failures",
                                  "Ollama HTTP attempts that failed, by error code (retried ones included).",
                                  ["kind"])
MODEL_FALLBACKS = Counter("autoflow_model_fallbacks", "Nodes the built-in engine answered because Ollama failed.",
                          ["node", "failure"])


def _safe(record):
    """Metrics are never worth a failed run: a recording error is swallowed."""
    def guarded(*args, **kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception:  # noqa: BLE001 - e.g. an unwritable PROMETHEUS_MULTIPROC_DIR
            import logging

            logging.getLogger(__name__).warning("could not record a metric", exc_info=True)

    guarded.__name__ = record.__name__
    guarded.__doc__ = record.__doc__
    return guarded


@_safe
def run_finished(*, status: str, intent: str, family: str, band: str, backend: str, seconds: float | None) -> None:
    RUNS_FINISHED.labels(status=status, intent=intent or "none", family=family or "none", band=band or "none",
                         backend=backend or "none").inc()
    if seconds is not None:
        RUN_DURATION.labels(status=status).observe(max(seconds, 0.0))


@_safe
def node_finished(node: str, seconds: float, *, fallback: str = "") -> None:
    NODE_DURATION.labels(node=node).observe(max(seconds, 0.0))
    if fallback:
        MODEL_FALLBACKS.labels(node=node, failure=fallback).inc()


@_safe
def model_call(*, backend: str, seconds: float, failure: str = "", prompt_tokens: int | None = None,
               completion_tokens: int | None = None) -> None:
    """One engine call; `backend` is the engine asked, `failure` why it fell back ("" = answered)."""
    MODEL_CALL_DURATION.labels(backend=backend, outcome=failure or "ok").observe(max(seconds, 0.0))
    if failure:
        MODEL_FAILURES.labels(kind=failure).inc()
    if prompt_tokens:
        MODEL_TOKENS.labels(backend=backend, kind="prompt").inc(prompt_tokens)
    if completion_tokens:
        MODEL_TOKENS.labels(backend=backend, kind="completion").inc(completion_tokens)


@_safe
def ollama_request_failed(kind: str) -> None:
    OLLAMA_REQUEST_FAILURES.labels(kind=kind or "unknown").inc()
