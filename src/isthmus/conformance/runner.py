"""Run the selected checks against one target, one at a time, and build the report.

The runner owns everything around a check: the kit's listener, the recording client,
the contract between kit and target (the target file's ``contract_id``, or applied and
waited for; set up only when a check that will run needs one,
``setup.needs_contract``), a timeout per check, the mapping of what a check raised to an
outcome (``CheckFailed`` → FAIL, ``NotApplicable`` → NOT_APPLICABLE, ``ListenerTimeout``
→ FAIL because the target never called back, anything else → ERROR, the kit broke),
each check's cleanups (reverse order, even on failure) and, at the end, the contract it
applied (terminated). A part the target does not claim is NOT_APPLICABLE "not claimed"
without a request; a dry run sends nothing at all (no listener, no contract, no check
runs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.context import (
    CheckContext,
    CheckFailed,
    KitIdentity,
    NotApplicable,
    RunIds,
)
from isthmus.conformance.listener import KitListener, ListenerTimeout
from isthmus.conformance.model import CheckResult, Exchange, Outcome, Part, Target
from isthmus.conformance.recording import RecordingClient
from isthmus.conformance.redaction import is_secret_name
from isthmus.conformance.registry import Check, select
from isthmus.conformance.report import Report, TargetSummary
from isthmus.conformance.setup import (
    SETUP_ERROR,
    establish_contract,
    needs_contract,
    release_contract,
)

#: Called with the contract id the kit applied for; approves it at the target (tests
#: with an Isthmus target approve through its admin API; against production, the
#: target's operator approves and this is None).
Approver = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class RunOptions:
    """How to run, beyond what to run (all have safe defaults)."""

    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    #: The listener's address as the target must call it (default: where it listens).
    advertise: str | None = None
    check_timeout_s: float = 60.0
    cleanup_timeout_s: float = 15.0
    #: An httpx transport for the recording client (tests: in-process targets).
    transport: httpx.AsyncBaseTransport | None = None


async def run(
    target: Target,
    kit: KitIdentity,
    *,
    parts: Iterable[Part] | None = None,
    patterns: Sequence[str] = (),
    dry_run: bool = False,
    allow_mutating: bool = True,
    checks: Sequence[Check] | None = None,
    approve: Approver | None = None,
    options: RunOptions | None = None,
) -> Report:
    """Run the checks of ``parts`` (all when None) matching ``patterns`` (all when empty)
    from ``checks`` (the kit's registry when None) against ``target``."""
    options = options or RunOptions()
    chosen = select(all_checks() if checks is None else checks, parts, patterns)
    ids = RunIds()
    started = datetime.now(UTC)
    if dry_run:
        results = tuple(_planned(c, target) for c in chosen)
        return _report(target, kit, ids, started, results, (), dry_run=True)
    listener = KitListener(target, host=options.listen_host, port=options.listen_port)
    await listener.start()
    kit = replace(kit, listener_address=options.advertise or listener.address)
    http = RecordingClient(
        address=target.address,
        target_node_id=target.node_id,
        identity=kit.identity,
        rate_per_s=target.rate_per_s,
        transport=options.transport,
    )
    for value in target_secrets(target.model_dump()):
        http.secret(value)
    state: dict[str, Any] = {}
    setup: list[Exchange] = []
    try:
        if any(needs_contract(c, target) for c in chosen if not _skip(c, target, allow_mutating)):
            await establish_contract(target, kit, http, listener, state, approve)
        setup += http.take()
        done: list[CheckResult] = []
        for c in chosen:
            ctx = CheckContext(target, kit, http, listener, ids, state)
            done.append(await _run_one(c, ctx, allow_mutating, options))
        results = tuple(done)
        await release_contract(target, http, state)
    finally:
        setup += http.take()
        await http.aclose()
        await listener.stop()
    report = _report(target, kit, ids, started, results, tuple(setup), dry_run=False)
    return report.model_copy(update={"setup_error": state.get(SETUP_ERROR)})


def target_secrets(value: Any, name: str = "") -> list[str]:
    """Every string under a secret-sounding name in the target description (a session's
    token, a service's bearer token), at any depth: the client scrubs them wherever they
    would appear. Public keys and certificates (``*_pem``) are public material."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in target_secrets(v, str(k))]
    if isinstance(value, list | tuple | set | frozenset):
        return [s for v in value for s in target_secrets(v, name)]
    if isinstance(value, str) and is_secret_name(name) and not name.endswith("_pem"):
        return [value]
    return []


def _report(
    target: Target,
    kit: KitIdentity,
    ids: RunIds,
    started: datetime,
    results: tuple[CheckResult, ...],
    setup: tuple[Exchange, ...],
    *,
    dry_run: bool,
) -> Report:
    return Report(
        run_id=ids.run,
        kit_node_id=kit.node_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        dry_run=dry_run,
        target=TargetSummary.of(target),
        results=results,
        setup=setup,
    )


def _planned(c: Check, target: Target) -> CheckResult:
    claimed = c.part in target.claims
    reason = "dry run: would send: " + "; ".join(c.plan) if claimed else "not claimed"
    return _result(c, Outcome.NOT_APPLICABLE, reason, None, (), 0.0)


def _result(
    c: Check,
    outcome: Outcome,
    reason: str,
    divergence: str | None,
    exchanges: tuple[Exchange, ...],
    duration_ms: float,
) -> CheckResult:
    return CheckResult(
        check_id=c.check_id,
        title=c.title,
        part=c.part,
        section=c.section,
        outcome=outcome,
        reason=reason,
        divergence=divergence,
        exchanges=exchanges,
        duration_ms=duration_ms,
    )


def _skip(c: Check, target: Target, allow_mutating: bool) -> str | None:
    """Why ``c`` is not run at all in this run (None: it runs)."""
    if c.part not in target.claims:
        return "not claimed"
    if c.mutates and not allow_mutating:
        return "changes state on the target; mutating checks are not allowed in this run"
    return None


async def _run_one(
    c: Check, ctx: CheckContext, allow_mutating: bool, options: RunOptions
) -> CheckResult:
    skipped = _skip(c, ctx.target, allow_mutating)
    if skipped is not None:
        return _result(c, Outcome.NOT_APPLICABLE, skipped, None, (), 0.0)
    ctx.listener.drain()
    ctx.http.take()
    started = time.perf_counter()
    outcome, reason = await _outcome(c, ctx, options.check_timeout_s)
    cleanup_errors = await _cleanup(ctx, options.cleanup_timeout_s)
    if cleanup_errors:
        reason += "; cleanup failed: " + "; ".join(cleanup_errors)
    elapsed = (time.perf_counter() - started) * 1000
    divergence = "; ".join(ctx.divergences) or None
    return _result(c, outcome, reason, divergence, ctx.http.take(), elapsed)


async def _outcome(c: Check, ctx: CheckContext, timeout_s: float) -> tuple[Outcome, str]:
    try:
        await asyncio.wait_for(c.fn(ctx), timeout_s)
    except CheckFailed as exc:
        return Outcome.FAIL, str(exc) or "failed"
    except NotApplicable as exc:
        return Outcome.NOT_APPLICABLE, str(exc) or "not applicable"
    except ListenerTimeout as exc:
        return Outcome.FAIL, f"the target never called back: {exc}"
    except TimeoutError:
        return Outcome.ERROR, f"the check did not finish in {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return Outcome.ERROR, f"no answer from the target: {type(exc).__name__}: {exc}"
    except Exception as exc:
        return Outcome.ERROR, f"the check raised {type(exc).__name__}: {exc}"
    return Outcome.PASS, "; ".join(ctx.notes) or "passed"


async def _cleanup(ctx: CheckContext, timeout_s: float) -> list[str]:
    errors = []
    for fn in reversed(ctx.cleanups):
        try:
            await asyncio.wait_for(fn(), timeout_s)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    ctx.cleanups.clear()
    return errors
