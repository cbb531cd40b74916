"""`herald`: send, status, requeue and check against a real Redis and SMTP server, as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import redis

from service.queue import WORKER_HEALTH_KEY
from tests.conftest import drain
from tests.support.herald import herald_env
from tests.support.smtp import ScriptedSMTP


def herald(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


async def test_send_then_status_shows_it_sent(redis_url: str, smtp: ScriptedSMTP, settings):
    env = herald_env(redis_url, smtp.url)
    sent = herald(env, "send", "user.welcome", "ada@example.com", "--context", '{"name": "Ada"}')
    assert sent.returncode == 0, sent.stderr
    created = json.loads(sent.stdout)
    assert created["status"] == "queued" and created["actor"] == "cli"
    await drain(settings)
    status = herald(env, "status", created["id"])
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "sent"
    assert smtp.notification_ids() == [created["id"]]


def test_bad_input_is_a_clean_refusal(redis_url: str, smtp: ScriptedSMTP):
    env = herald_env(redis_url, smtp.url)
    missing = herald(env, "send", "user.welcome", "ada@example.com")  # no "name"
    assert missing.returncode == 2 and "name" in missing.stderr and "Traceback" not in missing.stderr
    bad_json = herald(env, "send", "user.welcome", "ada@example.com", "--context", "{nope")
    assert bad_json.returncode == 2 and "Traceback" not in bad_json.stderr
    unknown = herald(env, "status", "no-such-id")
    assert unknown.returncode == 1 and "no notification" in unknown.stderr
    bad_since = herald(env, "requeue", "--status", "failed", "--since", "soon")
    assert bad_since.returncode == 2 and "duration" in bad_since.stderr


async def test_requeue_puts_recent_dead_letters_back(redis_url: str, smtp: ScriptedSMTP, settings):
    env = herald_env(redis_url, smtp.url)
    smtp.script.rcpt["bob@example.com"].append("554 5.7.1 refused by policy")
    created = json.loads(herald(env, "send", "user.welcome", "bob@example.com", "--context", '{"name": "B"}').stdout)
    await drain(settings)
    assert json.loads(herald(env, "status", created["id"]).stdout)["status"] == "failed"
    requeued = herald(env, "requeue", "--status", "failed", "--since", "1h")
    assert requeued.returncode == 0 and requeued.stdout.startswith("requeued 1")
    await drain(settings)
    assert json.loads(herald(env, "status", created["id"]).stdout)["status"] == "sent"


def test_check_exits_zero_only_when_everything_answers(redis_url: str, smtp: ScriptedSMTP):
    env = herald_env(redis_url, smtp.url)
    no_worker = herald(env, "check")
    assert no_worker.returncode == 1 and "NO HEARTBEAT" in no_worker.stdout and "smtp     ok" in no_worker.stdout
    with redis.Redis.from_url(redis_url) as client:
        client.set(WORKER_HEALTH_KEY, b"alive", px=5000)
    healthy = herald(env, "check")
    assert healthy.returncode == 0, healthy.stdout
    no_smtp = herald(env | {"SMTP_URL": "smtp://127.0.0.1:1"}, "check")
    assert no_smtp.returncode == 1 and "smtp     FAILED" in no_smtp.stdout
    misconfigured = herald(env | {"REDIS_URL": "http://nope"}, "check")
    assert misconfigured.returncode != 0 and "REDIS_URL" in misconfigured.stderr


async def test_archive_moves_what_finished_and_needs_database_url(redis_url: str, smtp: ScriptedSMTP, settings,
                                                                  database_url: str):
    env = herald_env(redis_url, smtp.url)
    refused = herald(env, "archive")
    assert refused.returncode == 2 and "DATABASE_URL" in refused.stderr
    env["DATABASE_URL"] = database_url
    created = json.loads(herald(env, "send", "user.welcome", "ada@example.com", "--context", '{"name": "A"}').stdout)
    await drain(settings.model_copy(update={"database_url": database_url}))
    assert herald(env, "archive", "--after", "1h").stdout.strip() == "moved 0"
    moved = herald(env, "archive", "--after", "0s")
    assert moved.returncode == 0 and moved.stdout.strip() == "moved 1", moved.stderr
    assert not redis.Redis.from_url(redis_url).exists(f"herald:n:{created['id']}")
    status = herald(env, "status", created["id"])
    assert status.returncode == 0 and json.loads(status.stdout)["status"] == "sent"
