"""The one registry of checks, filled by importing ``isthmus.conformance.checks.every``
(``isthmus.conformance.catalogue`` does; this module imports no check, so the check
modules can import it without a circle).

A check is an async function decorated with ``@check``; the decorator records what the
check is about (id, part, spec section, whether it changes state, its plan for
``--dry-run``) next to the function. Ids are unique: registering one twice is a bug in the
kit and fails at import, not halfway through a run. Tests build their own ``Registry``
so that they never see (or pollute) the kit's checks.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from isthmus.conformance.model import Part

if TYPE_CHECKING:
    from isthmus.conformance.context import CheckContext

CheckFn = Callable[["CheckContext"], Awaitable[None]]
_CHECK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")


@dataclass(frozen=True)
class Check:
    """A registered check: what it is about, and the coroutine function that runs it."""

    check_id: str
    title: str
    part: Part
    section: str
    #: True when the check creates state on the target (always under its own ids, and
    #: always cleaned up); ``allow_mutating=False`` runs only the read-only checks.
    mutates: bool
    #: Human lines: what the check would send (``--dry-run`` prints them).
    plan: tuple[str, ...]
    fn: CheckFn


class Registry:
    """Checks by id, in registration order."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def check(
        self,
        check_id: str,
        *,
        title: str,
        part: Part,
        section: str,
        plan: Sequence[str],
        mutates: bool = False,
    ) -> Callable[[CheckFn], CheckFn]:
        """Register the decorated coroutine function as check ``check_id``."""
        if not _CHECK_ID.match(check_id):
            raise ValueError(f"check id {check_id!r} is not dotted lower-case")
        if check_id in self._checks:
            raise ValueError(f"check {check_id!r} is registered twice")

        def register(fn: CheckFn) -> CheckFn:
            self._checks[check_id] = Check(
                check_id, title, Part(part), section, mutates, tuple(plan), fn
            )
            return fn

        return register

    def all(self) -> tuple[Check, ...]:
        return tuple(self._checks.values())


_KIT = Registry()


def check(
    check_id: str,
    *,
    title: str,
    part: Part,
    section: str,
    plan: Sequence[str],
    mutates: bool = False,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check into the kit's registry (used by ``conformance/checks/*.py``)."""
    return _KIT.check(check_id, title=title, part=part, section=section, plan=plan, mutates=mutates)


def registered() -> tuple[Check, ...]:
    """The checks registered so far; ``catalogue.all_checks`` first imports them all."""
    return _KIT.all()


def select(
    checks: Iterable[Check],
    parts: Iterable[Part] | None = None,
    patterns: Sequence[str] = (),
) -> tuple[Check, ...]:
    """The checks of ``parts`` (all when None) whose id matches any of ``patterns``
    (shell globs, or substrings when a pattern has no glob character; all when empty)."""
    wanted = None if parts is None else frozenset(Part(p) for p in parts)
    return tuple(
        c
        for c in checks
        if (wanted is None or c.part in wanted) and (not patterns or _matches(c, patterns))
    )


def _matches(c: Check, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            if fnmatch.fnmatchcase(c.check_id, pattern):
                return True
        elif pattern in c.check_id:
            return True
    return False
