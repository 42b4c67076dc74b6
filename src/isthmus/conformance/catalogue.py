"""Every check the kit ships: importing ``checks.every`` registers them all into the
registry, and ``all_checks`` hands them out. Kept apart from ``registry`` so that the
check modules, which import the registry, are never imported by it."""

from __future__ import annotations

import isthmus.conformance.checks.every  # noqa: F401 - importing registers every check
from isthmus.conformance.registry import Check, registered


def all_checks() -> tuple[Check, ...]:
    """Every check the kit ships, in a stable order (module, then definition)."""
    return registered()
