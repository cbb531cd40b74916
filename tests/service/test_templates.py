"""The template catalog over the shipped templates, plus the sandbox and malformed directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from service.templates import (
    Catalog,
    MissingVariables,
    TemplateConfigError,
    TemplateNotFound,
    load_catalog,
)

CONTRACT = {
    "user.welcome": ("transactional", {"name"}, set()),
    "user.password_reset": ("security", {"name", "reset_url"}, set()),
    "reminder": ("transactional", {"name", "title"}, {"due_at"}),
    "newsletter": ("marketing", {"headline", "body"}, set()),
    "digest.daily": ("digest", {"items"}, set()),
    "digest.weekly": ("digest", {"items"}, set()),
}


@pytest.fixture
def catalog(templates_dir: Path) -> Catalog:
    return Catalog(templates_dir)


def write_template(root: Path, key: str = "evil", *, toml: str = 'category = "transactional"\n',
                   locale: str = "en", **parts: str) -> Path:
    folder = root / key
    (folder / locale).mkdir(parents=True, exist_ok=True)
    (folder / "template.toml").write_text(toml)
    for part, source in ({"subject": "Hi {{ name }}", "text": "Hello {{ name }}"} | parts).items():
        if source is not None:
            (folder / locale / f"{part}.j2").write_text(source)
    return folder


@pytest.mark.parametrize("key", sorted(CONTRACT))
def test_contract_template_exists_with_category_and_variables(catalog, key):
    category, required, optional = CONTRACT[key]
    tpl = catalog.get(key)
    assert tpl.category == category
    assert tpl.required == required
    assert tpl.optional == optional
    assert tpl.default_locale == "en" and "en" in tpl.locales


def test_welcome_ships_english_and_french(catalog):
    assert set(catalog.get("user.welcome").locales) == {"en", "fr"}


def test_every_template_renders_its_own_example(catalog):
    for key in CONTRACT:
        tpl = catalog.get(key)
        rendered = catalog.render(key, None, tpl.example)
        assert rendered.subject and rendered.text.strip() and rendered.html


def test_unknown_template_raises_not_found(catalog):
    with pytest.raises(TemplateNotFound):
        catalog.get("user.nope")


def test_reminder_due_at_is_optional(catalog):
    without = catalog.render("reminder", "en", {"name": "Ada", "title": "Renew"})
    with_due = catalog.render("reminder", "en", {"name": "Ada", "title": "Renew", "due_at": "2026-12-01"})
    assert "due" not in without.text and "None" not in without.text
    assert "(due 2026-12-01)" in with_due.text


def test_missing_variables_names_each_missing_one(catalog):
    with pytest.raises(MissingVariables) as info:
        catalog.render("user.password_reset", "en", {"name": "Ada"})
    assert info.value.names == ["reset_url"]
    assert "reset_url" in str(info.value)


def test_missing_variables_lists_all_sorted(catalog):
    with pytest.raises(MissingVariables) as info:
        catalog.render("reminder", "en", {})
    assert info.value.names == ["name", "title"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [("fr", "fr"), ("fr-CA", "fr"), ("FR", "fr"), ("fr_ca", "fr"), ("en-GB", "en"),
     ("de", "en"), ("pt-BR", "en"), (None, "en"), ("", "en"), ("../fr", "en")],
)
def test_locale_fallback_on_welcome(catalog, wanted, expected):
    assert catalog.get("user.welcome").resolve_locale(wanted) == expected


def test_french_locale_renders_french(catalog):
    rendered = catalog.render("user.welcome", "fr-CA", {"name": "Ada"})
    assert rendered.subject == "Bienvenue chez Acme, Ada !"
    assert rendered.text.startswith("Bonjour Ada")


def test_region_falls_back_to_language_then_default(tmp_path):
    write_template(tmp_path, "user.hello", subject="EN {{ name }}")
    write_template(tmp_path, "user.hello", locale="pt", subject="PT {{ name }}")
    tpl = Catalog(tmp_path).get("user.hello")
    assert tpl.locales == ("en", "pt")
    assert tpl.resolve_locale("pt-BR") == "pt"
    assert tpl.resolve_locale("pt_br") == "pt"
    assert tpl.resolve_locale("es-MX") == "en"
    assert Catalog(tmp_path).render("user.hello", "pt-BR", {"name": "Ana"}).subject == "PT Ana"


def test_html_is_autoescaped_and_text_is_not(catalog):
    rendered = catalog.render("user.welcome", "en", {"name": "<b>Ada</b> & co"})
    assert "&lt;b&gt;Ada&lt;/b&gt; &amp; co" in rendered.html
    assert "<b>Ada</b>" not in rendered.html
    assert "Hi <b>Ada</b> & co," in rendered.text
    assert rendered.subject == "Welcome to Acme, <b>Ada</b> & co!"


def test_context_values_are_data_not_template_code(catalog):
    rendered = catalog.render("user.welcome", "en", {"name": "{{7*7}}{% if 1 %}x{% endif %}"})
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{7*7}}{% if 1 %}x{% endif %}" in part
        assert "49" not in part


def test_context_cannot_override_system_variables(catalog):
    rendered = catalog.render("user.welcome", "en", {"name": "Ada", "unsubscribe_url": "https://evil.test"})
    assert "evil.test" not in rendered.text and "evil.test" not in rendered.html


def test_unsubscribe_url_is_rendered_when_given(catalog):
    rendered = catalog.render("newsletter", "en", {"headline": "H", "body": "B"},
                              unsubscribe_url="https://h.test/u?a=1&b=2")
    assert "Unsubscribe: https://h.test/u?a=1&b=2" in rendered.text
    assert 'href="https://h.test/u?a=1&amp;b=2"' in rendered.html


def test_subject_is_collapsed_to_one_line(catalog):
    rendered = catalog.render("user.welcome", "en", {"name": "Ada\r\nBcc: evil@x.test\n\tend"})
    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    assert rendered.subject == "Welcome to Acme, Ada Bcc: evil@x.test end!"


def test_text_ends_with_exactly_one_newline(catalog):
    text = catalog.render("user.welcome", "en", {"name": "Ada"}).text
    assert text.endswith("The Acme team\n")


def test_digest_lists_every_item(catalog):
    items = [{"subject": "One", "text": "first"}, {"subject": "Two <b>", "text": "second"}]
    rendered = catalog.render("digest.daily", "en", {"items": items})
    assert rendered.subject == "Your daily digest: 2 updates"
    assert "* One" in rendered.text and "* Two <b>" in rendered.text
    assert "Two &lt;b&gt;" in rendered.html


@pytest.mark.parametrize(
    "subject",
    [
        "{{ name.__class__.__mro__ }}",
        "{{ ''.__class__.__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ name | attr('__class__') }}",
        "{{ lipsum.__globals__['os'] }}",
    ],
)
def test_sandbox_refuses_python_internals(tmp_path, subject):
    write_template(tmp_path, subject=subject)
    with pytest.raises(SecurityError):
        Catalog(tmp_path).render("evil", "en", {"name": "Ada"})


def test_sandbox_refuses_mutating_a_value(tmp_path):
    write_template(tmp_path, subject="{{ items.append(1) }}{{ items }}")
    items: list[int] = []
    with pytest.raises(SecurityError):
        Catalog(tmp_path).render("evil", "en", {"items": items, "name": "Ada"})
    assert items == []


def test_sandbox_refuses_huge_ranges(tmp_path):
    write_template(tmp_path, subject="{% for i in range(10**9) %}{% endfor %}done")
    with pytest.raises(OverflowError):
        Catalog(tmp_path).render("evil", "en", {"name": "Ada"})


def test_catalog_skips_underscore_folders_and_loose_files(tmp_path):
    write_template(tmp_path, "user.ok")
    (tmp_path / "_partials").mkdir()
    (tmp_path / "README.md").write_text("notes")
    assert list(Catalog(tmp_path).templates) == ["user.ok"]


@pytest.mark.parametrize(
    ("key", "toml", "parts"),
    [
        ("user.bad_toml", "category = \n", {}),
        ("user.bad_category", 'category = "spam"\n', {}),
        ("user.no_text", "", {"text": None}),
        ("user.no_subject", "", {"subject": None}),
        ("User.Welcome", "", {}),
        ("user welcome", "", {}),
        ("user.bad_default", 'default_locale = "de"\n', {}),
        ("user.bad_syntax", "", {"text": "Hello {{ name "}),
    ],
)
def test_malformed_template_dir_raises_config_error(tmp_path, key, toml, parts):
    write_template(tmp_path, key, toml=toml, **parts)
    with pytest.raises(TemplateConfigError):
        Catalog(tmp_path)


def test_missing_template_toml_raises_config_error(tmp_path):
    (tmp_path / "user.bare" / "en").mkdir(parents=True)
    with pytest.raises(TemplateConfigError, match="template.toml"):
        Catalog(tmp_path)


def test_load_catalog_turns_config_error_into_system_exit(tmp_path):
    write_template(tmp_path, "user.bad_category", toml='category = "spam"\n')
    with pytest.raises(SystemExit) as info:
        load_catalog(tmp_path)
    message = str(info.value.code)
    assert "TEMPLATES_DIR" in message and "spam" in message and "\n" not in message


def test_load_catalog_on_a_missing_directory_is_a_system_exit(tmp_path):
    with pytest.raises(SystemExit) as info:
        load_catalog(tmp_path / "nope")
    assert "TEMPLATES_DIR" in str(info.value.code)


def test_load_catalog_returns_the_shipped_catalog(templates_dir):
    catalog = load_catalog(templates_dir)
    assert set(catalog.templates) == set(CONTRACT) | {"ops.inquiry", "comment.mention"}
    assert catalog.get("ops.inquiry").channels == ("email", "slack", "http")
    assert catalog.get("comment.mention").default_channels == ("inbox", "email")
