"""The development command: Herald with everything it needs, on this machine only.

Starts an embedded redis-server unless REDIS_URL is set, a mail catcher unless SMTP_URL is
set, then the Procfile's processes with a development API key, which it prints.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

from honcho.manager import Manager
from honcho.printer import Printer

from service.embedded import RedisServer, free_port
from service.mailcatcher import start_catcher
from service.settings import REPO_ROOT

VAR = REPO_ROOT / "var"


def read_procfile(path: Path) -> dict[str, str]:
    processes = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            processes[name.strip()] = command.strip()
    return processes


def _environment() -> tuple[dict[str, str], list[object]]:
    env = dict(os.environ)
    started: list[object] = []
    if "REDIS_URL" not in env:
        redis = RedisServer(workdir=VAR / "redis").start()
        started.append(redis)
        env["REDIS_URL"] = redis.url
        print(f"dev: embedded redis-server on {redis.url}")
    if "SMTP_URL" not in env:
        port = free_port()
        started.append(start_catcher(VAR / "mail", port=port))
        env["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        env.setdefault("MAILBOX_DIR", str(VAR / "mail"))  # the dashboard's Mail tab reads it
        print(f"dev: mail catcher on 127.0.0.1:{port}, messages saved in {VAR / 'mail'}")
    env.setdefault("API_KEYS", f"dev:{secrets.token_urlsafe(18)}")
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    env.setdefault("MAIL_FROM", "Herald Dev <herald@localhost.test>")
    env.setdefault("PORT", "8000")
    env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{env['PORT']}")  # so unsubscribe links work here
    env.setdefault("ALLOW_TEST_DOMAINS", "true")  # so that ada@acme.test lands in the mail catcher
    env.setdefault("LOG_FORMAT", "text")  # readable lines in development; JSON is the default elsewhere
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env, started


def _banner(env: dict[str, str]) -> None:
    secret = env["API_KEYS"].split(",")[0].partition(":")[2]
    base = f"http://127.0.0.1:{env['PORT']}"
    print(f"dev: API key {secret}")
    print(f"dev: dashboard {base}/dashboard (log in with the API key; caught mail is under Mail)")
    print("dev: try it:")
    print(
        f"  curl -sS -X POST {base}/v1/notifications -H 'Authorization: Bearer {secret}' "
        "-H 'Content-Type: application/json' "
        "-d '{\"template\": \"user.welcome\", \"to\": \"ada@acme.test\", \"context\": {\"name\": \"Ada\"}}'",
        flush=True,
    )


def main() -> int:
    env, started = _environment()
    _banner(env)
    manager = Manager(Printer(sys.stdout))
    for name, command in read_procfile(REPO_ROOT / "Procfile").items():
        # Development stays on loopback.
        manager.add_process(name, command.replace("0.0.0.0", "127.0.0.1"), env=env, cwd=str(REPO_ROOT))
    try:
        manager.loop()
    finally:
        for thing in reversed(started):
            thing.stop()  # type: ignore[attr-defined]
    return manager.returncode or 0


if __name__ == "__main__":
    raise SystemExit(main())
