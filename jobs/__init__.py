"""The ARQ workers: `arq jobs.WorkerSettings` (the default lane) and `arq jobs.BulkWorkerSettings`.

`WorkerSettings` is built when ARQ asks for it, not at import, so importing a job module
reads no environment.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "WorkerSettings":
        from jobs.worker import from_environment

        return from_environment()
    if name == "BulkWorkerSettings":
        from jobs.worker import from_environment

        return from_environment(bulk=True)
    raise AttributeError(f"module 'jobs' has no attribute {name!r}")
