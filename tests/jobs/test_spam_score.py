"""Every shipped template, as delivered, through SpamAssassin: no rule may add points."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path


from tests.conftest import drain

# Caused by the test's own delivery (straight from the worker to a local server on a high port),
# not by the message: a real relay adds Received headers and listens on 25 or 587.
ENVIRONMENT_RULES = frozenset({"NO_RECEIVED", "NO_RELAYS", "WEIRD_PORT"})
_RULE_LINE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\s", re.MULTILINE)


def _mbox(messages: list[bytes]) -> bytes:
    """mboxrd: a From_ line before each message, and '>' before body lines that would look like one."""
    out = []
    for raw in messages:
        body = re.sub(rb"^(>*From )", rb">\1", raw.replace(b"\r\n", b"\n"), flags=re.MULTILINE)
        out.append(b"From herald@localhost Sat Dec  5 00:00:00 2026\n" + body.rstrip(b"\n") + b"\n\n")
    return b"".join(out)


def _reports(messages: list[bytes], home: Path) -> dict[str, str]:
    """SpamAssassin's report for each message, by its X-Herald-Notification header: one run for
    them all (its start-up is most of its time)."""
    spamassassin = shutil.which("spamassassin")
    assert spamassassin, "Debian's spamassassin is needed (scripts/test installs it)"
    done = subprocess.run([spamassassin, "-L", "-t", "--mbox"], input=_mbox(messages), capture_output=True,
                          timeout=300, env=os.environ | {"HOME": str(home)})
    output = done.stdout.decode("utf-8", "replace")
    reports: dict[str, str] = {}
    # Each message comes out whole with its report added after it, its header before the report.
    for chunk in re.split(r"(?=^X-Herald-Notification: )", output, flags=re.MULTILINE)[1:]:
        nid = chunk.split("\n", 1)[0].split(": ", 1)[1].strip()
        assert chunk.count("Content analysis details:") == 1, chunk
        reports[nid] = chunk.split("Content analysis details:", 1)[1]
    assert len(reports) == len(messages), done.stderr.decode()  # every message was scored
    return reports


def _points(report: str) -> dict[str, float]:
    table = report.split("---- ----------------------")[1] if "----" in report else report
    return {name: float(score) for score, name in _RULE_LINE.findall(table)}


async def _delivered(client, app, settings, smtp) -> dict[str, tuple[str, bytes]]:
    """Each shipped template in each locale with its example context, as the SMTP server got it:
    {notification id: (template/locale, raw message)}."""
    wanted = {}
    for template in app.state.catalog.templates.values():
        for locale in template.locales:
            body = {"template": template.key, "locale": locale, "context": template.example,
                    "to": {"email": f"reader.{len(wanted)}@example.com", "name": "Ada Lovelace"}}
            response = await client.post("/v1/notifications", json=body)
            assert response.status_code == 202, response.text
            wanted[response.json()["id"]] = f"{template.key}/{locale}"
    await drain(settings)
    raw = {m.message["X-Herald-Notification"]: m.raw for m in smtp.received}
    assert set(raw) == set(wanted)
    return {nid: (wanted[nid], raw[nid]) for nid in wanted}


async def test_no_shipped_template_scores_a_point(client, app, settings, smtp, tmp_path) -> None:
    messages = await _delivered(client, app, settings, smtp)
    assert len(messages) >= 7  # every template, welcome in two locales
    # A control that must score: the newsletter without its List-Id, as Herald sent it before.
    [newsletter] = [(nid, raw) for nid, (name, raw) in messages.items() if name == "newsletter/en"]
    control = re.sub(rb"List-Id: [^\r]*\r\n", b"", newsletter[1]).replace(newsletter[0].encode(), b"control")
    reports = _reports([raw for _, raw in messages.values()] + [control], tmp_path)
    assert _points(reports.pop("control")).get("LIST_PARTIAL_SHORT_MSG", 0) > 0
    points = {name: _points(reports[nid]) for nid, (name, _) in messages.items()}
    print("\n" + "\n".join(f"{name}: {rules}" for name, rules in points.items()))
    scored = {name: {rule: pts for rule, pts in rules.items() if pts > 0 and rule not in ENVIRONMENT_RULES}
              for name, rules in points.items()}
    assert {name: rules for name, rules in scored.items() if rules} == {}
    # The reports were read: the environment's own rule fires on every message.
    assert all("NO_RECEIVED" in rules for rules in points.values())
