"""SEND_RATE_PER_SECOND: one rate for all workers, slowed when the server asks, urgent mail first."""

from __future__ import annotations


import pytest
import redis
from redis.asyncio import Redis

from bench.report import sustained_rate
from jobs.smtp import Outcome, asks_to_slow_down
from jobs.throttle import SLOWDOWN_KEY, SendThrottle
from tests.conftest import AUTH, drain
from tests.support.herald import Herald, herald_env, post_many, statuses, wait_until
from tests.support.smtp import ScriptedSMTP


@pytest.mark.parametrize(("code", "detail", "slow"), [
    (421, "421 4.7.0 too many connections, closing", True),
    (451, "451 4.7.1 rate limited, try later", True),
    (450, "450 4.7.25 greylisted", True),
    (451, "451 4.3.0 temporary local problem", False),
    (452, "452 4.2.2 mailbox full", False),
])
def test_which_replies_ask_to_slow_down(code: int, detail: str, slow: bool):
    assert asks_to_slow_down(Outcome("transient", code, detail)) is slow


def test_a_refusal_or_a_success_never_slows_down():
    assert not asks_to_slow_down(Outcome("rejected", 554, "554 5.7.1 refused"))
    assert not asks_to_slow_down(Outcome("sent", 250, "250 OK"))


async def test_the_default_lane_gets_tokens_the_bulk_lane_is_refused(redis_url: str):
    async with Redis.from_url(redis_url) as client:
        throttle = SendThrottle(client, rate=10)
        assert await throttle.admit(max_wait=0, bulk=True) == 0
        assert await throttle.admit(max_wait=0, bulk=True) > 0  # the bulk lane is paced: 1 per 100 ms
        assert await throttle.admit(max_wait=0, bulk=False) == 0  # a password reset still goes


async def test_a_rate_limit_reply_slows_every_worker_down(redis_url: str, smtp: ScriptedSMTP, client, settings):
    smtp.script.rcpt["ada@example.com"].append("451 4.7.1 you are sending too fast")
    fast = settings.model_copy(update={"send_rate_per_second": 50.0, "retry_base_seconds": 0.05,
                                       "retry_max_seconds": 0.1})
    body = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}
    created = (await client.post("/v1/notifications", json=body, headers=AUTH)).json()
    await drain(fast)
    async with Redis.from_url(redis_url) as r:
        assert float(await r.get(SLOWDOWN_KEY)) == 0.5
        assert 0 < await r.ttl(SLOWDOWN_KEY) <= 60
    assert smtp.notification_ids() == [created["id"]]  # retried and sent all the same


@pytest.mark.e2e
def test_two_workers_together_stay_within_five_percent_of_the_limit(redis_url: str, smtp: ScriptedSMTP):
    limit, count = 20, 100
    herald = Herald(herald_env(redis_url, smtp.url) | {"SEND_RATE_PER_SECOND": str(limit)})
    herald.start("web")
    try:
        herald.wait_web()
        ids = post_many(herald, count)
        herald.start("worker")
        herald.start("worker")
        wait_until(lambda: statuses(redis_url, ids)["sent"] == count, 60, "all sent")
    finally:
        herald.stop_all()
    # Sustained, as the benchmark measures it: the default lane's short burst at the start is left out.
    rate = sustained_rate(sorted(r.at for r in smtp.received))
    print(f"\n2 workers, SEND_RATE_PER_SECOND={limit}: {count} sent at {rate:.2f}/s")
    assert sorted(smtp.notification_ids()) == sorted(ids)
    assert abs(rate - limit) <= 0.05 * limit
    with redis.Redis.from_url(redis_url) as r:
        assert r.get(SLOWDOWN_KEY) is None
