"""The kit as a pytest plugin, for another platform's CI: one pytest item per check.

    pytest -p isthmus.conformance.pytest_plugin --conformance-target target.toml \\
        [--conformance-home NODE_HOME] [--conformance-out DIR] [-k PATTERN]

A FAIL is a test failure with the check's reason, NOT_APPLICABLE a skip with its reason,
an ERROR (the kit broke) a failure that says so. When the run's set-up failed (its
contract never approved), every check that needed the contract is a kit error naming
the set-up, whatever it found without it: the session fails, as the CLI's exit status
does. The checks share one run (one listener,
one contract), made when the first item runs, over exactly the items left after pytest's
own selection (``-k``, ``--deselect``); ``--conformance-out`` also writes the three
report files. ``--conformance-checks MODULE:NAME`` runs the checks of a ``Registry`` of
your own instead of the kit's (what a platform adds for its extensions).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.context import KitIdentity
from isthmus.conformance.model import CheckResult, Outcome, Part, Target
from isthmus.conformance.outputs import write_reports
from isthmus.conformance.registry import Check, Registry
from isthmus.conformance.setup import needs_contract


@dataclass(frozen=True)
class _Run:
    target: Target
    results: dict[str, CheckResult]
    setup_error: str | None


_RESULTS = pytest.StashKey[_Run]()
_CHECKS = pytest.StashKey[tuple[Check, ...]]()


class ConformanceFailure(Exception):
    """A check found the target does not do what its spec section says."""


class ConformanceError(Exception):
    """The kit could not judge (the target unreachable, a check broke)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "BFIA conformance kit (isthmus.conformance)")
    group.addoption("--conformance-target", help="the target description (TOML or JSON)")
    group.addoption("--conformance-home", help="speak and sign as this node home")
    group.addoption("--conformance-out", help="also write report.json/.xml/.html here")
    group.addoption(
        "--conformance-part", action="append", default=[], help="only this part (repeatable)"
    )
    group.addoption(
        "--conformance-read-only", action="store_true", help="skip checks that create state"
    )
    group.addoption("--conformance-checks", help="MODULE:NAME of a Registry to run instead")


def _checks(config: pytest.Config) -> tuple[Check, ...]:
    spec = config.getoption("conformance_checks")
    if not spec:
        return all_checks()
    module, _, name = spec.partition(":")
    found = getattr(importlib.import_module(module), name or "registry")
    return found.all() if isinstance(found, Registry) else tuple(found)


@pytest.hookimpl(tryfirst=True)  # before pytest's own -k/--deselect see the items
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("conformance_target"):
        return
    parts = {Part(p) for p in config.getoption("conformance_part")} or None
    checks = tuple(c for c in _checks(config) if parts is None or c.part in parts)
    config.stash[_CHECKS] = checks
    items.extend(ConformanceItem.from_parent(session, name=c.check_id, check=c) for c in checks)


class ConformanceItem(pytest.Item):
    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.add_marker(pytest.mark.conformance)
        self.user_properties.append(("section", check.section))

    def runtest(self) -> None:
        run = _results(self.session)
        result = run.results.get(self.check.check_id)
        if result is None:
            raise ConformanceError(f"{self.check.check_id} was not run")
        self.user_properties.append(("outcome", result.outcome.value))
        if run.setup_error is not None and needs_contract(self.check, run.target):
            raise ConformanceError(
                f"{result.section} {result.title}: the run's set-up failed "
                f"({run.setup_error}); without it: {result.outcome.value}: {result.reason}"
            )
        if result.outcome is Outcome.NOT_APPLICABLE:
            pytest.skip(f"{result.section}: {result.reason}")
        if result.outcome is Outcome.FAIL:
            raise ConformanceFailure(f"{result.section} {result.title}: {result.reason}")
        if result.outcome is Outcome.ERROR:
            raise ConformanceError(f"{result.section} {result.title}: {result.reason}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ConformanceFailure | ConformanceError):
            kind = "FAIL" if isinstance(excinfo.value, ConformanceFailure) else "KIT ERROR"
            return f"{kind}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path | str, int | None, str]:
        return "conformance", None, f"{self.check.check_id} ({self.check.section})"


def _results(session: pytest.Session) -> _Run:
    config = session.config
    if _RESULTS not in config.stash:
        selected = {i.name for i in session.items if isinstance(i, ConformanceItem)}
        checks = [c for c in config.stash[_CHECKS] if c.check_id in selected]
        config.stash[_RESULTS] = _run(config, checks)
    return config.stash[_RESULTS]


def _run(config: pytest.Config, checks: Sequence[Check]) -> _Run:
    target = Target.load(Path(config.getoption("conformance_target")))
    home = config.getoption("conformance_home")
    kit: KitIdentity = identity.from_home(Path(home)) if home else identity.ephemeral()
    report = asyncio.run(
        runner.run(
            target,
            kit,
            checks=checks,
            allow_mutating=not config.getoption("conformance_read_only"),
        )
    )
    out = config.getoption("conformance_out")
    if out:
        write_reports(report, Path(out), kit.identity)
    return _Run(target, {r.check_id: r for r in report.results}, report.setup_error)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a BFIA conformance kit check")
