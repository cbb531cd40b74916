"""The benchmark's child processes: started with a log file, stopped by pid, measured from /proc."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from service.embedded import RedisServer, free_port
from service.settings import REPO_ROOT

# The venv's own entry points (the same directory as the python running the benchmark).
BIN = Path(sys.executable).parent
STOP_TIMEOUT = 30  # the worker may take up to its shutdown grace (25 s) to finish in-flight sends
API_SECRET = "bench-" + secrets.token_urlsafe(18)
PROBLEM_MARKERS = ("Traceback", "ERROR", "CRITICAL")


def herald_env(*, redis_url: str, smtp_url: str, **extra: object) -> dict[str, str]:
    """The environment Herald reads its settings from; `extra` names are upper-cased."""
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        SMTP_URL=smtp_url,
        MAIL_FROM="Herald Bench <bench@herald.test>",
        API_KEYS=f"bench:{API_SECRET}",
        SECRET_KEY=secrets.token_urlsafe(32),
    )
    env.update({name.upper(): str(value) for name, value in extra.items()})
    return env


class Child:
    """One subprocess whose output goes to a log file; stopped by its own pid only."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log:
            # The child keeps its own copy of the file descriptor; ours can close at once.
            self.process = subprocess.Popen(args, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def memory_mib(self) -> dict[str, float]:
        """Current (VmRSS) and peak (VmHWM) resident memory, from /proc/<pid>/status."""
        wanted = {"VmRSS": "rss", "VmHWM": "peak"}
        figures: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in wanted:
                figures[wanted[key]] = int(value.split()[0]) / 1024  # the kernel reports kB
        return figures

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, from /proc/<pid>/stat (fields 14 and 15, in clock ticks)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat.rpartition(")")[2].split()  # the command name in parentheses may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Log lines that suggest something went wrong (tracebacks, errors)."""
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if any(marker in line for marker in PROBLEM_MARKERS)]


def start_redis(stack: ExitStack, workdir: Path) -> RedisServer:
    redis = RedisServer(workdir=workdir).start()
    stack.callback(redis.stop)
    return redis


def start_web(stack: ExitStack, env: dict[str, str], logs: Path) -> tuple[Child, int]:
    port = free_port()
    args = [str(BIN / "uvicorn"), "service.app:app", "--host", "127.0.0.1", "--port", str(port),
            "--no-access-log", "--log-level", "warning"]
    web = Child("web", args, env, logs / "web.log")
    stack.callback(web.stop)
    return web, port


def start_worker(stack: ExitStack, env: dict[str, str], logs: Path, *, bulk: bool = False) -> Child:
    """The Procfile's `worker` process, or with `bulk` its `bulk` process."""
    name, settings = ("bulk", "jobs.BulkWorkerSettings") if bulk else ("worker", "jobs.WorkerSettings")
    worker = Child(name, [str(BIN / "arq"), settings], env, logs / f"{name}.log")
    stack.callback(worker.stop)
    return worker


def report_problems(*children: Child, limit: int = 5) -> None:
    """Print what the children's logs complain about (nothing when all is well)."""
    for child in children:
        found = child.problems()
        print(f"  {child.name} log: {len(found)} error/traceback lines")
        for line in found[:limit]:
            print(f"    | {line[:200]}")
