"""What each side-by-side target runs: Procfile-style process lines and their environment."""

from __future__ import annotations

import shlex
import string
from dataclasses import dataclass, field

from bench.procs import BIN, herald_env
from service.dev import read_procfile
from service.settings import REPO_ROOT

HERALD_HEADER = "X-Herald-Notification"
# Herald's default backoff starts at 30 s; the peers retry after 1-2 s. Same order of magnitude here.
HERALD_RETRY = {"retry_base_seconds": 1, "retry_max_seconds": 5}
WEB = "web"


def _uvicorn(app: str) -> str:
    # The same command line as Herald's Procfile `web`, bound to loopback.
    return f"uvicorn {app} --host 127.0.0.1 --port $PORT"


@dataclass(frozen=True)
class Target:
    key: str  # as given to --targets
    label: str
    procfile: dict[str, str] | None  # None: Herald's own Procfile, read at run time
    env: dict[str, object] = field(default_factory=dict)

    @property
    def is_herald(self) -> bool:
        return self.procfile is None

    def processes(self) -> dict[str, str]:
        return self.procfile if self.procfile is not None else read_procfile(REPO_ROOT / "Procfile")

    def environment(self, *, redis_url: str, smtp_url: str, port: int) -> dict[str, str]:
        # Peers read REDIS_URL, SMTP_URL, MAIL_FROM and PORT from it and ignore Herald's other settings.
        return herald_env(redis_url=redis_url, smtp_url=smtp_url, port=port, **HERALD_RETRY, **self.env)


def argv(line: str, port: int) -> list[str]:
    """A Procfile line as arguments: $PORT filled in, 0.0.0.0 bound to loopback, the venv's executables."""
    filled = string.Template(line).safe_substitute(PORT=port)
    words = [word.replace("0.0.0.0", "127.0.0.1") for word in shlex.split(filled)]
    executable = BIN / words[0]
    return [str(executable) if executable.exists() else words[0], *words[1:]]


_CELERY = "celery -A bench.peers.celery_peer:celery_app worker"
_ARQ = {WEB: _uvicorn("bench.peers.arq_peer:app"), "worker": "arq bench.peers.arq_peer.WorkerSettings"}

TARGETS = {t.key: t for t in (
    Target("background", "BackgroundTasks", {WEB: _uvicorn("bench.peers.background:app")}),
    Target("celery-prefork", "Celery prefork", {WEB: _uvicorn("bench.peers.celery_peer:app"), "worker": _CELERY}),
    Target("celery-threads", "Celery threads c50",
           {WEB: _uvicorn("bench.peers.celery_peer:app"), "worker": f"{_CELERY} --pool threads -c 50"}),
    Target("arq10", "ARQ max_jobs 10", _ARQ, {"arq_max_jobs": 10}),
    Target("arq100", "ARQ max_jobs 100", _ARQ, {"arq_max_jobs": 100}),
    Target("herald", "Herald", None),
    # The same Procfile at raw ARQ max_jobs 100's concurrency: like for like, send slot for send slot.
    Target("herald-100", "Herald max_jobs 100", None, {"worker_max_jobs": 100}),
)}
