"""Turn a request or an answer into evidence text with every secret replaced.

The guarantee: no value the kit knows to be secret — a registered secret (its own
signatures, tokens it was handed, keys), the value of a secret-named header or JSON field
(``x-auth-sign``, ``*token*``, ``*key*``, ``*secret*``, ``*password*``, ``*sign*``,
``*pem*``, ``*cert*``), a PEM block anywhere, or data rows (``rows``, ``data_rows``,
``samples``) — appears in the text. Redaction happens before any text is
kept, so a report can be filed without review. Excerpts are bounded (``MAX_EXCERPT``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Single angle quotes around the word, so it reads as a marker and never as data.
REDACTED = "\u2039redacted\u203a"
MAX_EXCERPT = 2000
_SECRET_NAME = re.compile(
    r"sign|token|key|secret|passw|pem|cert|cookie|authoriz|seed|private|credential", re.I
)
#: Fields that carry data rows (never metadata: the listings' ``records`` are metadata).
_ROW_NAME = re.compile(r"^(rows|data_rows|samples)$", re.I)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)", re.S)
#: Header names that are not secret although the pattern matches them.
_PUBLIC_HEADERS = frozenset({"x-auth-type", "content-type", "x-csrf-protection"})


def is_secret_name(name: str) -> bool:
    return name.lower() not in _PUBLIC_HEADERS and bool(_SECRET_NAME.search(name))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): REDACTED if is_secret_name(k) else v for k, v in headers.items()}


def redact_json(value: Any) -> Any:
    """A copy of ``value`` with secret-named fields and data rows replaced."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k)
            if is_secret_name(name) or (_ROW_NAME.match(name) and isinstance(v, list)):
                out[name] = REDACTED
            else:
                out[name] = redact_json(v)
        return out
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return _PEM.sub(REDACTED, value)
    return value


def body_excerpt(body: bytes, content_type: str = "", secrets: Iterable[str] = ()) -> str:
    """The redacted body as text: JSON re-encoded after ``redact_json``, other text with
    PEM blocks removed, binary as its length only; known ``secrets`` are scrubbed before
    the excerpt is cut, so no prefix of one survives the cut."""
    if not body:
        return ""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return f"\u2039{len(body)} bytes of {content_type or 'binary'}\u203a"
    try:
        parsed = json.loads(text)
    except ValueError:
        excerpt = _PEM.sub(REDACTED, text)
    else:
        excerpt = json.dumps(redact_json(parsed), ensure_ascii=False, sort_keys=True)
    excerpt = scrub(excerpt, secrets)
    if len(excerpt) > MAX_EXCERPT:
        excerpt = (
            excerpt[:MAX_EXCERPT] + f"\u2026 \u2039{len(excerpt) - MAX_EXCERPT} more chars\u203a"
        )
    return excerpt


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each known secret (longest first) in ``text``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
