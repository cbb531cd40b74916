"""An app and a worker with DATABASE_URL set, and the mover run on demand (not by its cron)."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.archive import archive_finished
from service.settings import Settings
from tests.conftest import make_settings
from tests.support.smtp import ScriptedSMTP


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP, database_url: str) -> Settings:
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, database_url=database_url,
                         archive_after_seconds=86400)  # the worker's own rounds move nothing


async def move(app: Any, *, after: int = 0) -> int:
    """One round of the worker's mover, with the app's own store and archive."""
    store = app.state.store
    return await archive_finished({"store": store, "archive": store.archive, "archive_after_seconds": after})


async def in_postgres(app: Any, sql: str, *args: Any) -> Any:
    return await app.state.store.archive.pool.fetchval(sql, *args)
