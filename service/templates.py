"""The template catalog: discovery, variables, locale fallback and sandboxed rendering."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import TemplateError, meta, nodes
from jinja2 import Template as JinjaTemplate

from service.precheck import Plain, plain
from service import sandbox

CATEGORIES = frozenset({"transactional", "security", "billing", "marketing", "digest", "internal"})
ALWAYS_SENT = frozenset({"transactional", "security", "billing"})
KEY_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$")
PARTS = ("subject", "text", "html")
# Each channel's parts (service.channels): a template has a channel when its default locale has them.
CHANNEL_PARTS = {"email": ("subject", "text"), "slack": ("slack",), "http": ("http",), "inbox": ("inbox",)}
# What a caller's context can make a template raise while rendering (bad types, sandbox refusals).
# RecursionError: a layout that extends itself, which Jinja follows until the stack runs out.
RENDER_ERRORS = (TemplateError, TypeError, ValueError, LookupError, AttributeError, OverflowError, RecursionError)
# Supplied by Herald at render time, never by the caller.
SYSTEM_VARIABLES = frozenset({"unsubscribe_url", "notification_id", "locale"})


class TemplateNotFound(LookupError):
    pass


class TemplateConfigError(ValueError):
    """A template directory on disk is malformed; raised at load, never at send."""


class MissingVariables(ValueError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(f"missing template variables: {', '.join(names)}")
        self.names = names


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Template:
    key: str
    category: str
    version: int
    description: str
    default_locale: str
    locales: tuple[str, ...]
    required: frozenset[str]
    optional: frozenset[str]
    example: dict[str, Any] = field(default_factory=dict)
    has_html: dict[str, bool] = field(default_factory=dict)
    channels: tuple[str, ...] = ("email",)  # those it has parts for
    default_channels: tuple[str, ...] = ("email",)  # a notification's channels when it names none

    def resolve_locale(self, wanted: str | None) -> str:
        """`pt-BR` -> `pt` -> the template's default locale."""
        for candidate in _locale_chain(wanted):
            for have in self.locales:
                if have.lower() == candidate:
                    return have
        return self.default_locale

    def missing(self, context: dict[str, Any]) -> list[str]:
        return sorted(name for name in self.required if name not in context)

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "category": self.category,
            "version": self.version,
            "description": self.description,
            "default_locale": self.default_locale,
            "locales": list(self.locales),
            "variables": sorted(self.required),
            "optional_variables": sorted(self.optional),
            "example_context": self.example,
            "channels": list(self.channels),
            "default_channels": list(self.default_channels),
        }


def _locale_chain(wanted: str | None) -> list[str]:
    if not wanted:
        return []
    parts = wanted.replace("_", "-").lower().split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


class Catalog:
    """Every template under one directory, parsed once at start-up."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._env = sandbox.environment(root)
        self.templates: dict[str, Template] = {}
        self._parts: dict[str, tuple[JinjaTemplate, dict[str, Any]]] = {}
        self._plain: dict[tuple[str, str], Plain | None] = {}
        self._part_folder: dict[tuple[str, str, str], str] = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
            self.templates[folder.name] = self._load(folder)

    def get(self, key: str) -> Template:
        try:
            return self.templates[key]
        except KeyError:
            raise TemplateNotFound(key) from None

    def render(
        self,
        key: str,
        locale: str | None,
        context: dict[str, Any],
        *,
        unsubscribe_url: str | None = None,
        notification_id: str | None = None,
    ) -> Rendered:
        tpl, locale, values = self._values(key, locale, context, unsubscribe_url, notification_id)
        parts = {
            part: sandbox.render(*self._compiled(f"{key}/{locale}/{part}.j2"), values)
            for part in PARTS
            if part != "html" or tpl.has_html[locale]
        }
        return Rendered(
            subject=" ".join(parts["subject"].split()),
            text=parts["text"].strip() + "\n",
            html=parts.get("html"),
        )

    def render_part(self, key: str, locale: str | None, part: str, context: dict[str, Any], *,
                    notification_id: str | None = None) -> str:
        """One channel's part (`slack`, `http`, `inbox`), from the locale's folder or else the default's."""
        _, locale, values = self._values(key, locale, context, None, notification_id)
        folder = self._part_folder[key, locale, part]
        return sandbox.render(*self._compiled(f"{key}/{folder}/{part}.j2"), values).strip()

    def _values(self, key: str, locale: str | None, context: dict[str, Any], unsubscribe_url: str | None,
                notification_id: str | None) -> tuple[Template, str, dict[str, Any]]:
        tpl = self.get(key)
        missing = tpl.missing(context)
        if missing:
            raise MissingVariables(missing)
        locale = tpl.resolve_locale(locale)
        system = {"unsubscribe_url": unsubscribe_url, "notification_id": notification_id, "locale": locale}
        return tpl, locale, {name: None for name in tpl.optional} | context | system

    def fits(self, key: str, locale: str | None, context: dict[str, Any], max_chars: int) -> bool:
        """Whether rendering `context` is known to succeed within `max_chars` without rendering it
        (service.precheck); False means only that it must be rendered to know."""
        tpl = self.get(key)
        locale = tpl.resolve_locale(locale)
        found = self._plain.get((key, locale))
        # A name only a layout uses is not among the template's variables: it must be given too.
        if found is None or not all(n in context or n in tpl.optional or n in SYSTEM_VARIABLES for n in found.names):
            return False
        values = {name: context.get(name) for name in found.prints} | {"locale": locale}
        most = found.most_chars(values)
        return most is not None and most <= max_chars

    def _compiled(self, name: str) -> tuple[JinjaTemplate, dict[str, Any]]:
        found = self._parts.get(name)
        if found is None:
            template = self._env.get_template(name)
            found = self._parts[name] = (template, dict(template.globals))
        return found

    def _load(self, folder: Path) -> Template:
        key = folder.name
        if not KEY_RE.match(key):
            raise TemplateConfigError(f"{folder}: template key must look like domain.event")
        meta_data = self._read_toml(folder / "template.toml")
        category = meta_data.get("category", "transactional")
        if category not in CATEGORIES:
            raise TemplateConfigError(f"{folder}: unknown category {category!r}")
        locales = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir()))
        default_locale = meta_data.get("default_locale", "en")
        if default_locale not in locales:
            raise TemplateConfigError(f"{folder}: default locale {default_locale!r} has no directory")
        optional = frozenset(meta_data.get("optional", []))
        channels, defaults = self._channels(folder, default_locale, meta_data)
        used: set[str] = set()
        has_html: dict[str, bool] = {}
        for locale in locales:
            has_html[locale] = (folder / locale / "html.j2").is_file()
            if "email" in channels:
                used |= self._load_email(folder, locale)
            used |= self._load_parts(folder, locale, default_locale, [c for c in channels if c != "email"])
        return Template(
            key=key,
            category=category,
            version=int(meta_data.get("version", 1)),
            description=str(meta_data.get("description", "")),
            default_locale=default_locale,
            locales=locales,
            required=frozenset(used - optional - SYSTEM_VARIABLES),
            optional=optional,
            example=dict(meta_data.get("example", {})),
            has_html=has_html,
            channels=channels,
            default_channels=defaults,
        )

    @staticmethod
    def _channels(folder: Path, default_locale: str, meta_data: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        channels = tuple(c for c, parts in CHANNEL_PARTS.items()
                         if all((folder / default_locale / f"{p}.j2").is_file() for p in parts))
        if not channels:
            raise TemplateConfigError(f"{folder / default_locale}: no channel's parts (subject.j2 and text.j2 for "
                                      "email, or slack.j2, http.j2, inbox.j2)")
        defaults = meta_data.get("channels", ["email"] if "email" in channels else list(channels))
        if not isinstance(defaults, list) or not defaults or any(c not in channels for c in defaults):
            raise TemplateConfigError(f"{folder}: channels must list some of the channels it has parts for "
                                      f"({', '.join(channels)})")
        return channels, tuple(dict.fromkeys(defaults))

    def _load_email(self, folder: Path, locale: str) -> set[str]:
        used: set[str] = set()
        trees = []
        for part in PARTS:
            path = folder / locale / f"{part}.j2"
            if not path.is_file():
                if part == "html":
                    continue
                raise TemplateConfigError(f"{path} is required")
            trees.append(self._parse(path))
            used |= set(meta.find_undeclared_variables(trees[-1]))
        self._plain[folder.name, locale] = plain(trees, self._parse_named)
        return used

    def _load_parts(self, folder: Path, locale: str, default_locale: str, channels: list[str]) -> set[str]:
        """A channel's part a locale lacks is rendered from the default locale's."""
        used: set[str] = set()
        for part in (p for c in channels for p in CHANNEL_PARTS[c]):
            path = folder / locale / f"{part}.j2"
            self._part_folder[folder.name, locale, part] = locale if path.is_file() else default_locale
            if path.is_file():
                used |= set(meta.find_undeclared_variables(self._parse(path)))
        return used

    def _parse(self, path: Path) -> nodes.Template:
        try:
            return self._env.parse(path.read_text(encoding="utf-8"))
        except TemplateError as exc:
            raise TemplateConfigError(f"{path}: {exc}") from None

    def _parse_named(self, name: str) -> nodes.Template:
        """A layout an `{% extends %}` names, as Jinja's loader finds it (or raises TemplateNotFound)."""
        source, _, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]
        return self._env.parse(source)

    @staticmethod
    def _read_toml(path: Path) -> dict[str, Any]:
        if not path.is_file():
            raise TemplateConfigError(f"{path} is required")
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise TemplateConfigError(f"{path}: {exc}") from None


def load_catalog(root: Path) -> Catalog:
    """The catalog, or stop the process with one line naming the broken template."""
    try:
        return Catalog(root)
    except (TemplateConfigError, OSError) as exc:
        raise SystemExit(f"herald: configuration error: TEMPLATES_DIR: {exc}") from None
