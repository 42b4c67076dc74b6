"""The console's words in English and Simplified Chinese.

Each page keeps its own pair of catalogues, ``i18n/<lang>/<page>.json`` (flat objects of
key to text, keys prefixed with the page's name), so helpers working on different pages
never edit the same file. They are merged once, at import; a key defined twice is a
start-up error rather than a silent override. A key missing from a language falls back
to English, then to the key itself (a test keeps the catalogues in parity, so that only
happens during development).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LANGS = ("en", "zh-CN")
DEFAULT = "en"
COOKIE = "isthmus_lang"
ROOT = Path(__file__).parent / "i18n"


def load(lang: str, root: Path = ROOT) -> dict[str, str]:
    """Every catalogue of ``lang`` merged; ValueError on a key defined in two files."""
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in sorted((root / lang).glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: a catalogue is one JSON object of key to text")
        for key, text in entries.items():
            if key in merged:
                raise ValueError(f"{path}: key {key!r} is also defined in {origin[key]}")
            if not isinstance(text, str):
                raise ValueError(f"{path}: {key!r} is not a string")
            merged[key], origin[key] = text, path.name
    return merged


@cache
def catalogues() -> dict[str, dict[str, str]]:
    return {lang: load(lang) for lang in LANGS}


def t(lang: str, key: str, **fmt: Any) -> str:
    """``key`` in ``lang`` (English, then the key, when missing), formatted with ``fmt``."""
    books = catalogues()
    text = books.get(lang, {}).get(key) or books[DEFAULT].get(key) or key
    return text.format(**fmt) if fmt else text


def pick(cookie: str | None, accept_language: str | None) -> str:
    """The language: the cookie's when it names one we have, else the browser's first
    preference that we have (any ``zh`` is Simplified Chinese), else English."""
    if cookie in LANGS:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT
