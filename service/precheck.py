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
_PER_PART = 1  # the text part gets a newline appended after rendering
_CONSTANT_FILTERS = frozenset({"default", "d"})
# Names Jinja answers itself (the template, blocks, loops, macros) or from its globals.
_JINJA_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs",
                          "range", "dict", "lipsum", "cycler", "joiner", "namespace"})


@dataclass(frozen=True)
class Plain:
    static_chars: int  # every literal character in the parts and their layouts (more than any one render prints)
    prints: Mapping[str, int]  # how many times each variable is printed, across parts and layouts
    names: frozenset[str]  # every variable printed or tested, layouts included: each must be defined

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
    if not all(walk.tree(tree) for tree in parsed):
        return None
    return Plain(walk.static + _PER_PART * len(parsed), dict(walk.prints), frozenset(walk.names))


class _Walk:
    def __init__(self, parse: Callable[[str], nodes.Template]) -> None:
        self.parse = parse
        self.static = 0
        self.prints: Counter[str] = Counter()
        self.names: set[str] = set()
        self._open: list[str] = []  # the layouts being walked, to refuse an extends cycle

    def tree(self, template: nodes.Template) -> bool:
        # Jinja refuses a template that extends twice, at render time.
        return len(list(template.find_all(nodes.Extends))) <= 1 and self.node(template)

    def node(self, node: nodes.Node) -> bool:
        if isinstance(node, nodes.TemplateData):
            self.static += len(node.data)
            return True
        if isinstance(node, nodes.Const):  # printed escaped in the HTML part
            self.static += _GROWTH * len(str(node.value))
            return True
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in _JINJA_NAMES:
            self.prints[node.name] += 1
            self.names.add(node.name)
            return True
        if isinstance(node, nodes.Filter):
            return self._constant_default(node)
        if isinstance(node, nodes.Extends):
            return isinstance(node.template, nodes.Const) and self._layout(node.template.value)
        if isinstance(node, nodes.If):
            if not isinstance(node.test, nodes.Name) or node.test.name in _JINJA_NAMES:
                return False
            self.names.add(node.test.name)
            return all(self.node(child) for child in [*node.body, *node.elif_, *node.else_])
        if isinstance(node, nodes.Block) and node.required:
            return False
        if isinstance(node, (nodes.Template, nodes.Block, nodes.Output)):
            children = node.body if not isinstance(node, nodes.Output) else node.nodes
            return all(self.node(child) for child in children)
        return False

    def _layout(self, name: Any) -> bool:
        if not isinstance(name, str) or name in self._open:
            return False
        try:
            tree = self.parse(name)
        except (TemplateError, OSError, ValueError):  # a broken layout fails when rendered, as it did
            return False
        self._open.append(name)
        try:
            return self.tree(tree)
        finally:
            self._open.pop()

    def _constant_default(self, node: nodes.Filter) -> bool:
        # `{{ x | default('en') }}` prints x or the constant: both are counted.
        return (node.name in _CONSTANT_FILTERS and isinstance(node.node, nodes.Name) and len(node.args) <= 1
                and not node.kwargs
                and node.dyn_args is None and node.dyn_kwargs is None
                and all(isinstance(arg, nodes.Const) for arg in node.args)
                and all(self.node(part) for part in (node.node, *node.args)))
