"""JSON from outside, parsed only once it is known to be small and shallow enough.

Python's ``json`` parser recurses once per nesting level: ``[[[[...]]]]`` a hundred
thousand deep raises ``RecursionError`` (a 500, or worse, a crashed worker) long after
the body was read into memory. ``loads_bounded`` refuses such a document *before*
parsing it, by scanning its bytes once, without recursion, for the deepest nesting
outside strings; and it refuses a body over ``max_bytes`` before scanning at all.

**The guarantee:** ``loads_bounded`` either returns what ``json.loads`` would, for a
document of at most ``max_bytes`` bytes and ``max_depth`` levels, or raises
``ValidationFailed`` (``PayloadTooLarge`` for size); it never recurses deeper than
``max_depth`` and never raises anything else.
"""

from __future__ import annotations

import json
import re
from typing import Any

from isthmus.wire.errors import PayloadTooLarge, ValidationFailed

#: Deep enough for every BFIA document (a DAG & conf nests about 8 levels).
MAX_DEPTH = 64
MAX_BYTES = 16 * 1024 * 1024

# Everything that can change the nesting depth, and strings as whole tokens (with their
# escapes), so brackets inside strings are skipped in one regex step, not a Python loop.
# An unterminated string runs to the end of the data: every quote starts one token that
# the scan consumes, so the scan stays linear whatever the quotes and backslashes.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def nesting_depth(data: bytes, limit: int) -> int:
    """The deepest nesting of ``data`` outside strings, counting no further than
    ``limit + 1`` (the scan stops as soon as the limit is passed)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(data):
        char = match.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def loads_bounded(
    data: bytes | str, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES, what: str = "body"
) -> Any:
    """``json.loads(data)`` for a document within the bounds; a clear refusal otherwise."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"{what}: {len(raw)} bytes is over the limit of {max_bytes}")
    if nesting_depth(raw, max_depth) > max_depth:
        raise ValidationFailed(f"{what}: JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and UnicodeDecodeError.
        raise ValidationFailed(f"{what}: not valid JSON ({str(exc)[:120]})") from None
