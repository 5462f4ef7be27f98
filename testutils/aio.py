"""Channels scenarios (async) run from synchronous tests."""

import asyncio

from channels.db import database_sync_to_async


def run_async(scenario):
    """Run a scenario, then close the database connections its sync_to_async thread opened
    (else the test database cannot be dropped at the end)."""
    from django.db import connections

    async def wrapped():
        try:
            return await scenario()
        finally:
            await database_sync_to_async(connections.close_all)()

    return asyncio.run(wrapped())
