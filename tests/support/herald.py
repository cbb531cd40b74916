"""The Procfile's processes as subprocesses, for end-to-end and fault tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from service.dev import read_procfile
from service.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]
MAX_JOBS = 8
API_KEY = "test-secret-0123456789"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def herald_env(redis_url: str, smtp_url: str) -> dict[str, str]:
    return dict(os.environ) | {
        "REDIS_URL": redis_url,
        "SMTP_URL": smtp_url,
        "MAIL_FROM": "Acme <no-reply@acme.test>",
        "API_KEYS": f"test:{API_KEY}",
        "SECRET_KEY": "e2e-secret-key-0123456789",
        "PORT": str(free_port()),
        "JOB_TIMEOUT_SECONDS": "5",
        "SMTP_TIMEOUT_SECONDS": "2",
        "RETRY_BASE_SECONDS": "0.2",
        "RETRY_MAX_SECONDS": "1",
        "WORKER_MAX_JOBS": str(MAX_JOBS),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


class Herald:
    """The Procfile's processes, started and stopped by pid."""

    def __init__(self, env: dict[str, str], *, logs: Path | None = None) -> None:
        self.env = env
        self.logs = logs  # a folder: each process's output goes to <name>-<n>.log in it
        self.commands = {name: cmd.replace("0.0.0.0", "127.0.0.1") for name, cmd in
                         read_procfile(ROOT / "Procfile").items()}
        self.procs: list[subprocess.Popen[bytes]] = []  # every process started, to stop them all
        self.base = f"http://127.0.0.1:{env['PORT']}"

    def start(self, name: str) -> subprocess.Popen[bytes]:
        output = subprocess.DEVNULL
        if self.logs is not None:
            output = (self.logs / f"{name}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(["bash", "-c", f"exec {self.commands[name]}"], cwd=ROOT, env=self.env,
                                stdout=output, stderr=subprocess.STDOUT)
        if output is not subprocess.DEVNULL:
            output.close()  # the child has its own copy
        self.procs.append(proc)
        return proc

    def wait_web(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("web did not start")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def post_many(herald: Herald, count: int) -> list[str]:
    ids = []
    with httpx.Client(base_url=herald.base, headers=AUTH, timeout=10) as client:
        for n in range(count):
            body = {"template": "user.welcome", "to": f"user{n}@example.com", "context": {"name": f"U{n}"}}
            response = client.post("/v1/notifications", json=body)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
    return ids


def statuses(redis_url: str, ids: list[str]) -> Counter[str]:
    with redis.Redis.from_url(redis_url) as client:
        pipe = client.pipeline(transaction=False)
        for nid in ids:
            pipe.hget(f"herald:n:{nid}", "status")
        return Counter(s.decode() for s in pipe.execute())


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
