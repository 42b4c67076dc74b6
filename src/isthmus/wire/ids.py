"""Identifiers that come from outside, and the one way to turn them into paths.

A job, task, session, component, dataset or node id is chosen by whoever sends it: a
partner, a scheduler, an operator, a container. Such ids end up in file names (logs,
task storage, spill files), in process environments and in SQL rows, so every one of
them is checked against **one pattern** at the wire layer, before anything else sees it:

* letters, digits, ``.``, ``_`` and ``-`` only (no ``/``, ``\\``, NUL, spaces or other
  control characters), starting with a letter or digit, so ``.`` and ``..`` are out;
* no ``..`` anywhere, so no id reads as a parent directory on any file system;
* at most ``MAX_ID_LENGTH`` characters.

A dataset id is FATE's ``namespace#name``: two such ids joined by one ``#``.

**The guarantee of ``inside``:** a path it returns lies under its root after every
symbolic link is resolved, whatever the parts were; anything else is refused with
``PathOutsideRoot``. Every path built from an outside id goes through it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

from isthmus.wire.errors import ValidationFailed

MAX_ID_LENGTH = 256
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._\-]{{0,{MAX_ID_LENGTH - 1}}}$"
_ID = re.compile(ID_PATTERN)


class InvalidId(ValidationFailed):
    """An id from outside that does not match ``ID_PATTERN``; the message names its field."""


class PathOutsideRoot(ValidationFailed):
    """A path that would lie outside the root it was built under."""


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value)) and ".." not in value


def check_id(value: object, field: str = "id") -> str:
    """``value`` if it is a valid id; otherwise ``InvalidId`` naming ``field``.

    The message never echoes the value whole: it may be megabytes or hold control
    characters meant for a log.
    """
    if is_valid_id(value):
        return str(value)
    shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
    raise InvalidId(
        f"{field}: {shown} is not a valid id (1-{MAX_ID_LENGTH} letters, digits, '.', '_', "
        "'-', starting with a letter or digit, no '..')",
        details={"field": field},
    )


def check_dataset_id(value: object, field: str = "dataset_id") -> str:
    """A dataset id: ``namespace#name``, each half a valid id."""
    if isinstance(value, str) and value.count("#") == 1:
        namespace, name = value.split("#")
        if is_valid_id(namespace) and is_valid_id(name):
            return value
    shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
    raise InvalidId(
        f"{field}: {shown} is not a dataset id 'namespace#name'", details={"field": field}
    )


def _pydantic_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError(
            f"not a valid id (1-{MAX_ID_LENGTH} letters, digits, '.', '_', '-', "
            "starting with a letter or digit, no '..')"
        )
    return value


#: A pydantic field type for any id from outside.
Identifier = Annotated[str, AfterValidator(_pydantic_id)]


def inside(root: Path | str, *parts: str) -> Path:
    """``root / parts...``, guaranteed to lie under ``root`` once links are resolved.

    Each part is one path component (an id, or a file name the code chose); absolute
    parts, separators, ``..``, NUL and empty parts are refused before the file system is
    asked anything, and the resolved result is checked again, so a link planted inside
    the root cannot lead out of it either.
    """
    base = Path(root).resolve()
    path = base
    for part in parts:
        if (
            not isinstance(part, str)
            or part in ("", ".", "..")
            or "\x00" in part
            or "/" in part
            or (os.sep != "/" and os.sep in part)
            or (os.altsep is not None and os.altsep in part)
        ):
            raise PathOutsideRoot(
                f"path part {str(part)[:60]!r} is not a single name", details={"root": str(root)}
            )
        path = path / part
    resolved = path.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise PathOutsideRoot(
            f"{'/'.join(parts)[:120]!r} leads outside {base}", details={"root": str(root)}
        )
    return resolved
