"""The console's catalogues: every key in both languages, the same placeholders, no key
defined twice, and every ``t('…')`` a template names exists."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from isthmus.console import i18n
from isthmus.console.render import TEMPLATES


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    books = {lang: i18n.load(lang) for lang in i18n.LANGS}
    en = books["en"]
    for lang, book in books.items():
        assert sorted(set(en) - set(book)) == [], f"missing in {lang}"
        assert sorted(set(book) - set(en)) == [], f"only in {lang}"
        for key, text in book.items():
            assert placeholders(text) == placeholders(en[key]), f"{lang} {key}"


def test_each_page_has_a_catalogue_in_each_language() -> None:
    files = {lang: sorted(p.name for p in (i18n.ROOT / lang).glob("*.json")) for lang in i18n.LANGS}
    assert files["en"] == files["zh-CN"]


def test_a_key_defined_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "a.json").write_text(json.dumps({"x.y": "one"}))
    (tmp_path / "en" / "b.json").write_text(json.dumps({"x.y": "two"}))
    with pytest.raises(ValueError, match="also defined"):
        i18n.load("en", tmp_path)


def test_every_key_a_template_names_exists() -> None:
    en = i18n.load("en")
    named = {
        key
        for path in TEMPLATES.rglob("*.html")
        for key in re.findall(r"""\bt\(\s*['"]([\w.-]+)['"]""", path.read_text(encoding="utf-8"))
    }
    named = {k for k in named if not k.endswith((".", "_"))}  # prefixes of built keys
    assert named, "the pattern finds no key: broken"
    assert sorted(named - set(en)) == []


def test_language_choice() -> None:
    assert i18n.pick("zh-CN", "en") == "zh-CN"
    assert i18n.pick("fr", "zh-TW,zh;q=0.9") == "zh-CN"
    assert i18n.pick(None, "de, en-GB;q=0.8") == "en"
    assert i18n.pick(None, None) == "en"
    assert i18n.t("zh-CN", "nav.jobs") == "作业"
    assert i18n.t("zh-CN", "no.such.key") == "no.such.key"
