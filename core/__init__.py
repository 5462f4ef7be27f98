"""What every app imports: request ids, the Redis client, the client's address, the error
envelope, logging, the request middleware, WebSocket origin rules and timestamps.

It imports no app of ours: core <- inquiries <- orchestration / dashboard / the API, and the
project (`autoflow/`) imports everything (the contracts are in pyproject.toml, checked by `make lint`).
"""
