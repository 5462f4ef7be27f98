"""The chaos suite in its shortened form (chaos/suite.py; `make chaos` runs it at full length):
every fault on real processes under a steady stream of signed inquiries, then the invariants —
nothing lost, nothing stuck, no duplicate effect, no audit gap, /health answered throughout."""

import sys

import pytest

from chaos.suite import FAULTS, Config, report, run_suite

pytestmark = pytest.mark.services


def test_every_fault_keeps_every_accepted_inquiry_and_ends_every_run():
    config = Config(short=True, rate=1.5)
    rows = run_suite(config, list(FAULTS), out=sys.stdout)
    table = report(rows, config)
    sys.stdout.write(table + "\n")  # shown by pytest with a failure, and by `pytest -s`
    assert [row.fault for row in rows] == list(FAULTS)
    for row in rows:
        assert row.accepted > 0, table
        assert (row.lost, row.stuck, row.dup, row.audit, row.health) == (0, 0, 0, 0, 0), table
        assert all(ok for _, ok in row.checks), table
    by_fault = {row.fault: row for row in rows}
    assert by_fault["postgres_down"].retryable > 0, table  # the outage was real: the sender saw 503s
    assert by_fault["duplicate_storm"].refused > 0, table  # stale signatures were refused
