"""The HTML report in a real headless Chromium (as the console tests drive it): it opens
without a console error, loads nothing from anywhere, runs no script, keeps its
Content-Security-Policy (the inline style is allowed by its hash, so the page is styled,
and a CSP violation would be a console error), escapes what the target said, and has a
title, a language and labelled sections. ``ISTHMUS_SCREENSHOTS=1`` writes
``docs/conformance-report.png`` — from a run of the kit's own checks against the node
when they are there (``all_checks()`` and the operator's part in
``tests/conformance/isthmus_target.py``: the run's contract and what the kit marks
``-approve-`` are approved, so every applicable check runs; the ECDH-PSI checks against
the node's own PSI engine in-process, through the kit's relay), else from this module's."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.conformance import identity, runner
from isthmus.conformance.catalogue import all_checks
from isthmus.conformance.context import CheckContext, KitIdentity
from isthmus.conformance.model import Part, Target
from isthmus.conformance.outputs import Written, write_reports
from isthmus.conformance.psi.target import Curve, PsiTarget
from isthmus.conformance.registry import Registry
from isthmus.conformance.runner import Approver
from isthmus.wire import paths
from tests.conformance.conftest import IsthmusTarget, run_sync
from tests.console.conftest import assert_accessible, browser, page  # noqa: F401 - fixtures

pytestmark = pytest.mark.multinode

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "conformance-report.png"
INJECTED = "<img src=x onerror=alert(1)><script>alert(2)</script>"

registry = Registry()


@registry.check(
    "html.health", title="Node health", part=Part.MANAGEMENT, section="§1.4", plan=["GET health"]
)
async def health(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned("GET", paths.NODE_HEALTH, label="health, unsigned")
    ctx.expect(reply.code == 0, f"code {reply.code}")
    ctx.note("GET node/health answers the success envelope")


@registry.check(
    "html.unsigned-refused",
    title="An unsigned query is refused",
    part=Part.MANAGEMENT,
    section="§1.2",
    plan=["GET contract/query without x-auth-sign"],
)
async def unsigned(ctx: CheckContext) -> None:
    reply = await ctx.http.unsigned(
        "GET", paths.NODE_CONTRACT_QUERY, params={"contract_id": ctx.contract_id}, label="query"
    )
    ctx.expect(reply.code not in (0, 200), "an unsigned query was answered")
    ctx.divergence("refused with HTTP 401 and code 20001 (the spec names no code, §8.2)")
    ctx.note(f"refused with code {reply.code}")


@registry.check(
    "html.fails", title="Fails on purpose", part=Part.SCHEDULING, section="§2.2", plan=["x"]
)
async def fails(ctx: CheckContext) -> None:
    await ctx.http.signed("GET", "/v1/interconn/" + INJECTED, label="a path with markup")
    ctx.fail(f"the answer echoed {INJECTED}")


@registry.check("html.uas", title="UAS verify", part=Part.UAS, section="§6", plan=["x"])
async def uas(ctx: CheckContext) -> None:
    ctx.not_applicable("the target claims no TEE")


def _screenshots() -> bool:
    return os.environ.get("ISTHMUS_SCREENSHOTS") == "1"


KitRun = tuple[Target, Approver, contextlib.AbstractContextManager[None]]


def _kit_run(isthmus_target: IsthmusTarget, kit: KitIdentity) -> KitRun | None:
    """The target and operator of the kit's own node-level run (its sessions, datasets and
    service addresses; the approver of its contract; the operator approving what the kit
    marks while the run lasts, ``tests/conformance/isthmus_target.py``), when the checks
    exist."""
    if not all_checks() or importlib.util.find_spec("tests.conformance.isthmus_target") is None:
        return None
    helpers = importlib.import_module("tests.conformance.isthmus_target")
    node = isthmus_target.node
    psi = PsiTarget(
        launcher="isthmus.conformance.psi.inprocess:launcher",
        link="blackbox",
        curves=frozenset(Curve),
        items=200,
    )
    target = helpers.target_of(node, kit.node_id)
    return (
        target.model_copy(update={"claims": frozenset(Part), "psi": psi}),
        helpers.approver(node, kit.node_id),
        helpers.operator_approves(node),
    )


@contextlib.contextmanager
def _nobody() -> Iterator[None]:
    yield


@pytest.fixture(scope="module")
def written(isthmus_target: IsthmusTarget, tmp_path_factory: pytest.TempPathFactory) -> Written:
    kit = identity.ephemeral()
    real = _kit_run(isthmus_target, kit) if _screenshots() else None
    if real is not None:
        target, approve, operator = real
        checks = all_checks()
    else:
        claims = frozenset({Part.MANAGEMENT, Part.SCHEDULING})
        target = isthmus_target.target.model_copy(update={"claims": claims})
        approve, checks, operator = isthmus_target.approve, registry.all(), _nobody()
    with operator:
        report = run_sync(runner.run(target, kit, checks=checks, approve=approve))
    return write_reports(report, tmp_path_factory.mktemp("html"), kit.identity)


def test_the_report_opens_styled_without_errors_or_requests(page: Any, written: Written) -> None:  # noqa: F811
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(written.html.as_uri())
    assert requests == [written.html.as_uri()], "the page loaded something"
    assert page.locator("script").count() == 0
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert csp is not None and csp.startswith("default-src 'none'; style-src 'sha256-")
    # the inline stylesheet applied: CSP allowed it by its hash
    weight = page.locator("summary .o").first.evaluate("e => getComputedStyle(e).fontWeight")
    assert weight == "600"
    assert page.locator('meta[name="report-sha256"]').get_attribute("content") == written.sha256
    if _screenshots():  # the summary, and the first check opened to show its evidence
        page.set_viewport_size({"width": 1280, "height": 1400})
        page.locator("details.check").first.evaluate("e => { e.open = true; }")
        page.screenshot(path=str(SCREENSHOT), full_page=False)


def test_the_report_is_accessible(page: Any, written: Written) -> None:  # noqa: F811
    page.goto(written.html.as_uri())
    assert_accessible(page)
    assert page.locator("html").get_attribute("lang") == "en"
    assert "BFIA conformance of CONF_TARGET" in page.title()
    for section in page.locator("main section").all():
        label = section.get_attribute("aria-labelledby")
        assert label and page.locator(f"#{label}").count() == 1


def test_what_the_target_said_is_text_never_markup(page: Any, written: Written) -> None:  # noqa: F811
    if _screenshots():
        pytest.skip("the screenshot run uses the kit's checks, not this module's")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(written.html.as_uri())
    failed = page.locator("#check-html\\.fails")
    assert failed.get_attribute("open") is not None, "failures are open"
    assert INJECTED in failed.locator(".reason").inner_text()
    assert page.locator("main img").count() == 0 and dialogs == []
    rows = page.locator("table tbody tr th")
    assert rows.all_inner_texts() == [  # the parts with results, UAS "not claimed" included
        "Management plane (§1)",
        "Scheduling plane (§2)",
        "TEE unified attestation service (§6)",
    ]
    divergence = page.locator("#check-html\\.unsigned-refused .divergence").text_content()
    assert divergence is not None and "code 20001" in divergence
