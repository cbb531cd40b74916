"""Small SVG line charts, drawn on the server: the dashboard needs no script at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 600
HEIGHT = 120


@dataclass(frozen=True)
class Line:
    name: str
    css: str  # the class that colours it (dashboard.css)
    points: str  # the polyline's "x,y x,y ..." attribute
    total: int


@dataclass(frozen=True)
class Chart:
    lines: list[Line]
    top: int  # the value at the top edge, printed as the scale

    @property
    def empty(self) -> bool:
        return all(line.total == 0 for line in self.lines)


def chart(series: Sequence[tuple[str, str, Sequence[int | None]]]) -> Chart:
    """One chart from (name, css class, values per minute); a None is a minute with no sample."""
    top = _nice(max((v for _, _, values in series for v in values if v is not None), default=0))
    return Chart([Line(name, css, _points(values, top), sum(v or 0 for v in values))
                  for name, css, values in series], top)


def _points(values: Sequence[int | None], top: int) -> str:
    step = WIDTH / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{HEIGHT - (v / top) * HEIGHT:.1f}"
                    for i, v in enumerate(values) if v is not None)


def _nice(peak: int) -> int:
    """The first of 1, 2, 5, 10, 20, 50, ... that is at least `peak`, so the scale reads well."""
    top = 1
    while top < peak:
        top = top * 5 // 2 if str(top)[0] == "2" else top * 2
    return top
