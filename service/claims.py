"""What a claim (lua/claim.lua) answers: whether the worker may send a notification now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Claim:
    """A claim's answer. `verdict`, with `detail`:

    "claimed" (the status before), "refused" ("suppressed"/"opted_out", now written as
    `suppressed`), "skipped" (the status, None if the record is gone), "not due" (None),
    "early" (the due time in ms, within the tolerance) or "unclaimed" (the status; nothing written).
    `record`: as it was before the claim, when claimed or unclaimed.
    """

    verdict: str
    detail: str | None
    record: dict[str, Any] | None = None


_CLAIM_VERDICTS = {0: "skipped", 1: "claimed", 2: "refused", 3: "not due", 4: "early", 5: "unclaimed"}


def claimed(reply: list[Any]) -> Claim:
    code, detail, *rest = reply
    return Claim(_CLAIM_VERDICTS[int(code)], _text(detail) or None, _record_from_flat(rest[0]) if rest else None)


def _record_from_flat(flat: list[bytes | str]) -> dict[str, Any]:
    """HGETALL's field, value, ... as `get_many(attempts=False)` gives it; once per delivery, so inlined."""
    texts = [item.decode() if isinstance(item, bytes) else item for item in flat]
    record: dict[str, Any] = dict(zip(texts[::2], texts[1::2]))
    record["attempts"] = []
    record["events"] = []
    return record
