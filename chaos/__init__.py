"""The chaos suite: AutoFlow as real processes, a steady stream of signed inquiries, one fault at
a time, and the invariants of docs/reliability.md checked from PostgreSQL and the sender's own
log after each fault. `make chaos` runs it at full length; `make test` runs `--short`
(tests/test_chaos.py). See chaos/suite.py."""
