"""Which renders can be known to succeed without rendering.

The API renders every notification once when it accepts it, so that a context the template
cannot use is refused there and not found failing in the worker. For most templates that render
is a formality: a template that only prints variables (`{{ name }}`), tests them (`{% if x %}`),
gives them a constant `default`, and extends a layout made the same way, cannot fail on text
values; only its size can be too large, and that has an upper bound. Such a template is a
`Plain`, found once at start-up from its syntax tree; a request whose values for it are all text
is then judged by arithmetic. Anything else (a loop, an attribute, another filter, a value that
is not text) is rendered, as before. The render check was the largest part of the send route.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError, nodes

# HTML escaping turns one character into at most five (`&#34;`); six keeps the bound loose.
_GROWTH = 6
_CONSTANT_FILTERS = frozenset({"default", "d"})


@dataclass(frozen=True)
class Plain:
    static_chars: int  # every literal character in the parts and their layouts (more than any one render prints)
    prints: Mapping[str, int]  # how many times each variable is printed, across parts and layouts

    def most_chars(self, values: Mapping[str, Any]) -> int | None:
        """An upper bound on the rendered size, or None when a printed value is not text."""
        total = self.static_chars
        for name, times in self.prints.items():
            value = values.get(name)
            if value is None:
                total += times * len("None")
            elif isinstance(value, str):
                total += times * _GROWTH * len(value)
            else:
                return None
        return total


def plain(parsed: list[nodes.Template], parse: Callable[[str], nodes.Template]) -> Plain | None:
    """The parts of one template in one locale, or None if any of them is not plain.
    `parse` gives the tree of a template an `{% extends %}` names."""
    walk = _Walk(parse)
    return Plain(walk.static, dict(walk.prints)) if all(walk.node(tree) for tree in parsed) else None


class _Walk:
    def __init__(self, parse: Callable[[str], nodes.Template]) -> None:
        self.parse = parse
        self.static = 0
        self.prints: Counter[str] = Counter()

    def node(self, node: nodes.Node) -> bool:
        if isinstance(node, nodes.TemplateData):
            self.static += len(node.data)
            return True
        if isinstance(node, nodes.Const):
            self.static += len(str(node.value))
            return True
        if isinstance(node, nodes.Name) and node.ctx == "load":
            self.prints[node.name] += 1
            return True
        if isinstance(node, nodes.Filter):
            return self._constant_default(node)
        if isinstance(node, nodes.Extends):
            return isinstance(node.template, nodes.Const) and self._layout(node.template.value)
        if isinstance(node, nodes.If):
            branches = [*node.body, *node.elif_, *node.else_]
            return isinstance(node.test, nodes.Name) and all(self.node(child) for child in branches)
        if isinstance(node, (nodes.Template, nodes.Block, nodes.Output)):
            children = node.body if not isinstance(node, nodes.Output) else node.nodes
            return all(self.node(child) for child in children)
        return False

    def _layout(self, name: Any) -> bool:
        try:
            tree = self.parse(name)
        except (TemplateError, OSError, TypeError):  # a broken layout fails when rendered, as it did
            return False
        return self.node(tree)

    def _constant_default(self, node: nodes.Filter) -> bool:
        # `{{ x | default('en') }}` prints x or the constant: both are counted.
        return (node.name in _CONSTANT_FILTERS and isinstance(node.node, nodes.Name) and not node.kwargs
                and node.dyn_args is None and node.dyn_kwargs is None
                and all(isinstance(arg, nodes.Const) for arg in node.args)
                and all(self.node(part) for part in (node.node, *node.args)))
